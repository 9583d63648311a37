"""Synthetic but realistic English earnings calls with planted cross-firm themes.

Each firm gets a name, a ticker-like id, a sector, products, executives and a call in the usual
order: operator introduction and safe-harbour language, prepared remarks by the CEO and the CFO,
then questions from named analysts and a close. Eight themes (``PLANTED_THEMES``) are planted
across firms; each firm discusses 3-5 of them (chosen so that every theme spans at least three
firms when there are eight firms or more), about 30-70 sentences each, built from templates with
varied wording, numbers and the firm's own products. The ``planted_topic`` column holds the
ground truth: a theme key, ``"boilerplate"`` (operator lines, safe harbour, courtesies) or
``"other"`` (firm-specific one-offs). Output is deterministic for a given ``seed``.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ftm_assets.modeling.types import parse_quarter

BOILERPLATE = "boilerplate"
OTHER = "other"


@dataclass(frozen=True)
class PlantedTheme:
    """A theme planted in the demo corpus: ground truth for topic and theme evaluation."""

    key: str
    title: str
    description: str
    statements: tuple[str, ...]  # prepared-remark / answer templates
    questions: tuple[str, ...]  # analyst question templates


PLANTED_THEMES: dict[str, PlantedTheme] = {
    t.key: t
    for t in (
        PlantedTheme(
            "supply_chain",
            "Supply-chain disruption",
            "Component shortages, long supplier lead times, freight costs and inventory buffers limit output.",
            (
                "Supply chain disruptions continued to weigh on our {product} shipments in the {quarter_name}.",
                "Component shortages, particularly for {input}, limited our output of {product} by roughly {pct_small}%.",
                "Lead times from our suppliers in {region} stretched to {weeks} weeks, compared with {weeks_short} weeks a year ago.",
                "Freight and logistics costs remained elevated, adding about ${musd} million of expense in the quarter.",
                "Port congestion delayed a number of inbound containers of {input} for {product}.",
                "We have been dual-sourcing critical components to reduce our dependence on any single supplier.",
                "Our backlog for {product} grew to ${busd} billion as customers ordered ahead of constrained supply.",
                "We built safety stock of key parts, which increased inventory by ${musd} million.",
                "Expedited shipping and air freight were necessary to meet commitments to our largest customers.",
                "The supply chain is improving, but we do not expect lead times to fully normalize before {next_year}.",
                "We qualified {count} new suppliers in {region} during the quarter to improve resilience.",
                "Shortages of {input} disrupted operations at {facility} for several days.",
                "Our procurement team secured allocations of {input} through the end of the year.",
                "Missed deliveries from a sole-source vendor cost us about {pct_small}% of revenue in {product}.",
                "We are nearshoring part of our {product} production to Mexico to shorten the supply chain.",
                "Logistics bottlenecks, from trucking capacity to container availability, remain our biggest constraint on growth.",
                "On-time delivery from suppliers improved to {pct_high}% as vendor performance recovered late in the quarter.",
                "Inventory in transit rose sharply because shipments of {input} are taking longer to arrive.",
                "We are redesigning {product} to use components that are more readily available.",
                "Supplier constraints limited our ability to convert backlog into revenue this quarter.",
                "Parts shortages left about ${musd} million of {product} orders unshipped at quarter end.",
                "We added buffer inventory of {input} because supplier lead times remain unpredictable.",
            ),
            (
                "Can you give us an update on the supply chain and how component shortages are affecting {product}?",
                "How should we think about supplier lead times and inventory levels as constraints ease?",
                "Are you seeing any improvement in freight costs and logistics bottlenecks?",
                "How much revenue did you leave on the table because of parts shortages this quarter?",
                "What are you doing to diversify suppliers and build more resilience in the supply chain?",
            ),
        ),
        PlantedTheme(
            "ai_datacenter",
            "AI and data-center demand",
            "Generative AI and hyperscale cloud build-outs drive orders for compute, networking and power.",
            (
                "Demand for {product} from hyperscale data-center customers was exceptionally strong in the {quarter_name}.",
                "Generative AI workloads are driving a step change in compute and networking spend at our cloud customers.",
                "Orders tied to AI infrastructure grew more than {pct}% year over year.",
                "We are investing in accelerated computing and high-bandwidth connectivity to capture the AI opportunity.",
                "Our data-center revenue reached a record ${musd} million, driven by AI training and inference deployments.",
                "Customers are building out GPU clusters at an unprecedented pace, and {product} is a key part of those builds.",
                "We launched an AI-enabled version of {product} that helps customers automate workflows with machine learning.",
                "Power and cooling requirements for AI data centers are creating new demand for {product}.",
                "Large language model adoption is moving from pilots to production deployments across our enterprise customers.",
                "Our pipeline of AI-related opportunities more than doubled compared with last quarter.",
                "We are expanding capacity to meet demand from cloud providers building AI data centers.",
                "Inference workloads at the edge are an emerging opportunity for {product}.",
                "We signed a multi-year agreement with a leading hyperscaler to supply {product} for its AI clusters.",
                "The shift to accelerated computing is lifting the content per server in data centers.",
                "Data-center capital spending by our largest cloud customers is expected to rise again in {next_year}.",
                "We are embedding generative AI features into {product}, and early usage metrics are encouraging.",
                "Demand for liquid cooling and high-density racks in AI data centers is pulling forward orders.",
                "AI-related bookings now represent roughly {pct}% of our total backlog.",
                "Hyperscale customers are asking us to reserve capacity well into {next_year} for their AI build-outs.",
                "Every new AI data center we support needs more {product} than a traditional cloud facility.",
            ),
            (
                "How big is the AI data-center opportunity for {product}, and how much of it is in your guidance?",
                "Can you talk about demand from hyperscalers and whether AI infrastructure spending is sustainable?",
                "What are you hearing from cloud customers about GPU and accelerator build-outs next year?",
                "How should we think about the mix between AI training and inference in your data-center business?",
                "Are you capacity constrained on AI-related products right now?",
            ),
        ),
        PlantedTheme(
            "pricing_inflation",
            "Pricing and inflation",
            "Raw-material and input-cost inflation, price increases, price-cost spread and demand elasticity.",
            (
                "We implemented price increases of about {pct_small}% across our {product} portfolio to offset cost inflation.",
                "Raw material inflation, especially in {input}, remained a headwind to gross margin.",
                "Price realization contributed {pct_small} points to revenue growth in the quarter.",
                "We have seen some customers trade down to lower-priced products as inflation squeezes budgets.",
                "Input cost inflation moderated late in the quarter, and we expect it to ease further in the second half.",
                "Our pricing actions held, and we saw limited elasticity in volumes for {product}.",
                "Gross margin contracted {bps} basis points because cost inflation ran ahead of our pricing.",
                "We announced a second round of list price increases on {product}, effective next month.",
                "Surcharges tied to commodity costs helped us recover most of the inflation in {input}.",
                "Inflation in packaging and transportation added roughly ${musd} million of cost this quarter.",
                "We expect price-cost to turn positive in the {next_quarter_name} as our increases take full effect.",
                "Customers have generally accepted our price increases, although competitors have been more promotional.",
                "Promotional intensity increased, and we chose to protect price rather than chase volume.",
                "Commodity costs for {input} are up more than {pct}% from last year.",
                "We remain disciplined on pricing and will adjust again if inflation accelerates.",
                "Net pricing more than offset cost inflation, expanding gross margin by {bps} basis points.",
                "Higher prices for {product} have not yet dampened demand in any meaningful way.",
                "We are passing through higher {input} costs to customers with a lag of about one quarter.",
                "Cost inflation across our bill of materials was roughly {pct_small}% in the quarter.",
            ),
            (
                "How much pricing is left to come through, and how are customers reacting to the increases?",
                "Can you quantify the impact of raw material inflation on gross margin this quarter?",
                "Are you seeing any demand elasticity or trade-down as prices go up on {product}?",
                "When do you expect price-cost to turn positive?",
                "Is cost inflation in {input} starting to ease?",
            ),
        ),
        PlantedTheme(
            "labor_costs",
            "Labor costs and hiring",
            "Wage inflation, labor shortages, turnover, overtime and automation to offset labor costs.",
            (
                "Wage inflation continued, with average hourly pay for our frontline workers up about {pct_small}%.",
                "Labor shortages at {facility} kept us from running all shifts.",
                "We raised starting wages and added retention bonuses to reduce employee turnover.",
                "Employee turnover improved to {pct}% annualized, down from the peak last year.",
                "Overtime costs were elevated as we covered open positions with our existing workforce.",
                "Hiring remains difficult for skilled roles such as technicians, engineers and electricians.",
                "We added {count_large} employees in the quarter, mostly in operations and service roles.",
                "Labor costs rose {pct_small}% year over year and are now our largest inflationary pressure.",
                "The new agreement with our union includes wage increases of {pct_small}% a year over four years.",
                "We are investing in automation to reduce our dependence on hard-to-fill hourly roles.",
                "Training new hires weighed on productivity, but we expect efficiency to improve as they ramp up.",
                "Benefits and healthcare costs for our employees increased more than expected.",
                "Staffing levels are now back to where we need them at most of our sites, including {facility}.",
                "Absenteeism and quit rates have normalized, which is helping labor productivity.",
                "We reduced our reliance on temporary staffing agencies, saving about ${musd} million.",
                "Compensation expense grew faster than revenue because the labor market remains tight.",
                "We are competing for workers with other employers that have raised pay just as aggressively.",
                "Wage increases for our hourly workforce will add about ${musd} million of cost next year.",
            ),
            (
                "Can you talk about wage inflation and how much labor cost pressure is embedded in the guide?",
                "Are you still having trouble hiring and retaining workers at your facilities?",
                "How are employee turnover and overtime trending?",
                "What is the outlook for labor productivity as new hires ramp up?",
                "Do you see more room to automate to offset rising labor costs?",
            ),
        ),
        PlantedTheme(
            "interest_rates",
            "Interest rates and financing",
            "Higher interest rates raise interest expense, refinancing needs and customers' financing costs.",
            (
                "Higher interest rates increased our interest expense to ${musd} million in the quarter.",
                "We refinanced our notes due {year_soon} and extended our debt maturities to {year_late}.",
                "About {pct_high}% of our debt is now fixed rate, which limits our exposure to further rate hikes.",
                "Rising borrowing costs are making it harder for our customers to finance large purchases of {product}.",
                "We used free cash flow to repay ${musd} million on our revolving credit facility.",
                "Our net leverage ratio ended the quarter at {leverage} times EBITDA, within our target range.",
                "The Federal Reserve's rate increases have slowed orders from customers who rely on financing.",
                "We entered into interest rate swaps to hedge a portion of our floating-rate term loan.",
                "Higher interest rates also lifted the interest income we earn on our cash balances.",
                "Credit markets remain open to us, and we have ample liquidity of about ${busd} billion.",
                "We expect interest expense to decline next year as we pay down variable-rate debt.",
                "Rating agencies affirmed our investment-grade credit rating during the quarter.",
                "Higher mortgage rates have cooled housing-related demand for {product}.",
                "The cost of capital has gone up, so we raised the hurdle rate for new investments.",
                "We have no significant debt maturities until {year_late}.",
                "Our weighted average cost of debt rose to {rate_high}% from {rate_low}% a year ago.",
                "Customers are delaying projects until they have more clarity on where interest rates are heading.",
                "Every 100 basis point move in rates changes our annual interest expense by about ${musd_small} million.",
            ),
            (
                "How are higher interest rates affecting your customers' ability to finance purchases?",
                "Can you talk about your debt maturities and plans to refinance given where rates are?",
                "What portion of your debt is floating rate, and how much could interest expense rise?",
                "Where do you want leverage to be by the end of next year?",
                "Are higher interest rates changing how you think about capital allocation?",
            ),
        ),
        PlantedTheme(
            "china_demand",
            "China demand",
            "Weak or recovering demand in China, export controls, tariffs and local competition.",
            (
                "Demand in China remained soft, with sales in the region down {pct}% year over year.",
                "The slow recovery of the Chinese economy weighed on orders for {product}.",
                "Export restrictions on shipments to China reduced our revenue by about ${musd} million.",
                "We are seeing local competitors in China gain share with lower-priced alternatives to {product}.",
                "Consumer spending in China has been weaker than we expected after the reopening.",
                "Our China business stabilized sequentially, but we are not yet calling a recovery.",
                "Property market weakness in China continues to hurt demand for construction-related products.",
                "We are localizing production of {product} in China to serve customers there more competitively.",
                "Geopolitical tensions between the United States and China add uncertainty to our outlook in Asia.",
                "Channel inventory of {product} in China is elevated and needs to be worked down.",
                "Government stimulus in China has not yet translated into higher orders for us.",
                "Excluding China, our Asia-Pacific business grew at a double-digit rate.",
                "We are shifting some sourcing out of China to reduce our tariff exposure.",
                "Tariffs on goods imported from China added about ${musd} million to our costs.",
                "Orders from Chinese customers picked up modestly toward the end of the quarter.",
                "We now expect our China revenue to be down mid-single digits for the full year.",
                "China represents about {pct_small}% of our sales today, down from {pct}% three years ago.",
            ),
            (
                "What are you seeing in China, and when do you expect demand there to recover?",
                "How much exposure do you have to export controls and tariffs on China?",
                "Are local Chinese competitors taking share from {product}?",
                "Can you size the China business as a percentage of revenue today?",
                "Is the weakness in China driven by consumers or more by the property sector?",
            ),
        ),
        PlantedTheme(
            "energy_transition",
            "Energy transition and capex",
            "Capital spending on renewables, electrification, batteries, grid upgrades and emissions targets.",
            (
                "We are allocating a larger share of our capital expenditures to energy transition projects.",
                "Capital spending for the year is expected to be about ${musd} million, including new capacity for {product}.",
                "Our renewable energy portfolio grew with {megawatts} megawatts of new solar and wind capacity.",
                "Demand for electrification, including EV charging and grid upgrades, is driving growth in {product}.",
                "Inflation Reduction Act incentives are improving the economics of our clean energy investments.",
                "We are on track to reduce our Scope 1 and 2 emissions by {pct}% by 2030.",
                "We broke ground on a battery plant that will begin production in {next_year}.",
                "Utility customers are accelerating investment in transmission and grid modernization.",
                "Our low-carbon products now account for {pct}% of revenue.",
                "We will invest in carbon capture and hydrogen pilots at {facility}.",
                "Capex will remain elevated for the next two years as we expand capacity for {product}.",
                "Heat pumps and energy-efficient systems are seeing strong adoption in commercial buildings.",
                "We signed long-term power purchase agreements to supply our sites with renewable electricity.",
                "Decarbonization targets at our customers are creating a multi-year growth runway for {product}.",
                "Returns on our energy transition capex are expected to exceed our cost of capital.",
                "The electric vehicle market is growing more slowly than expected, so we are pacing our investments.",
                "We expect to spend about ${busd} billion on clean energy and electrification projects through 2030.",
                "Solar and battery storage projects make up most of our capital plan for {next_year}.",
            ),
            (
                "Can you walk us through the capex plan and how much of it is tied to the energy transition?",
                "How are the Inflation Reduction Act tax credits affecting your project economics?",
                "What returns do you expect on the new capacity for {product}?",
                "Are you seeing any slowdown in EV or renewable demand that would change the capex plan?",
                "How big can the electrification opportunity be for {product}?",
            ),
        ),
        PlantedTheme(
            "capital_returns",
            "Share buybacks and dividends",
            "Returning cash to shareholders through repurchases and dividends; capital allocation priorities.",
            (
                "We returned ${musd} million to shareholders through share repurchases and dividends.",
                "The board approved a new share buyback authorization of ${busd} billion.",
                "We raised our quarterly dividend by {pct_small}%, marking the {nth} consecutive annual increase.",
                "We repurchased {mshares} million shares in the quarter at an average price of ${price}.",
                "Our capital allocation priorities remain investing in the business, the dividend and buybacks.",
                "Strong free cash flow gives us the flexibility to keep returning capital to shareholders.",
                "We expect to complete the remaining buyback authorization by the end of {next_year}.",
                "Our dividend payout ratio is about {pct}% of earnings, consistent with our policy.",
                "We accelerated share repurchases because we believe our stock is undervalued.",
                "We will return at least {pct_high}% of free cash flow to shareholders this year.",
                "The board declared a special dividend of ${dps} per share, payable next month.",
                "Buybacks reduced our diluted share count by {pct_small}% year over year.",
                "We slowed repurchases during the quarter to preserve cash for the acquisition.",
                "Total capital returned to shareholders since the start of the program now exceeds ${busd} billion.",
                "Our regular quarterly dividend of ${dps} per share was paid in full.",
                "We will keep buying back shares opportunistically under the existing authorization.",
            ),
            (
                "How are you thinking about the pace of share buybacks versus acquisitions from here?",
                "Is there room to grow the dividend faster given your free cash flow?",
                "Can you talk about your capital return priorities for next year?",
                "Why accelerate the share repurchases now rather than pay down debt?",
            ),
        ),
    )
}

_OTHER_TEMPLATES = (
    "Revenue for the {quarter_name} was ${busd} billion, up {pct_small}% from the prior year.",
    "Adjusted earnings per share were ${eps}, ahead of the guidance we gave last quarter.",
    "We opened a new customer experience center in {city}.",
    "We completed the acquisition of {acquired}, which broadens our {product} offering.",
    "{product} gained share in the quarter, helped by the launch of the new {brand} {version}.",
    "We welcomed {person} to our board of directors.",
    "Customer satisfaction scores for {product} reached an all-time high.",
    "We now expect full-year revenue between ${busd} billion and ${busd_high} billion.",
    "Operating cash flow was ${musd} million for the quarter.",
    "We closed {count} underperforming locations as part of our footprint review.",
    "Our {product} team won a multi-year contract with a major {customer}.",
    "SG&A as a percentage of sales declined {bps} basis points.",
    "We are consolidating two sites in {city} into a single, more efficient location.",
    "The launch of {product} in {region} exceeded our expectations.",
    "Our digital channels now represent {pct}% of sales.",
    "Warranty costs returned to normal levels after last year's product recall.",
    "We settled the patent litigation related to {product} on favorable terms.",
    "Adjusted EBITDA margin was {pct}% in the quarter.",
    "We completed the migration of our finance and order systems to a new ERP platform.",
    "Our safety record improved, with a recordable incident rate of 0.{digit}.",
    "We are celebrating our {anniversary}th anniversary as a company this year.",
    "Backlog for {product} ended the quarter at ${musd} million.",
    "We sold our {divested} business to focus on our core markets.",
    "Gross margin was {pct}%, in line with our expectations.",
)

_LEAD_INS = (
    "In the {quarter_name}, ",
    "At the same time, ",
    "As we discussed last quarter, ",
    "Importantly, ",
    "Looking ahead, ",
    "As a result, ",
    "In addition, ",
    "Overall, ",
    "To be clear, ",
    "Across the business, ",
)
_ANSWER_LEAD_INS = ("Yes, ", "Sure, ", "So ", "I think ", "Well, ", "Look, ", "Right, so ", "Yes, and ")
_ANSWER_CLOSERS = (
    "That's how we see it today.",
    "We will update you as the year progresses.",
    "I hope that answers your question.",
)


@dataclass(frozen=True)
class _Sector:
    name: str
    suffixes: tuple[str, ...]
    products: tuple[str, ...]
    inputs: tuple[str, ...]
    sites: tuple[str, ...]
    customers: tuple[str, ...]
    themes: tuple[str, ...]


_ALL_THEMES = tuple(PLANTED_THEMES)
_SECTORS = (
    _Sector(
        "semiconductors",
        ("Semiconductor", "Microsystems"),
        ("data-center accelerators", "networking chips", "memory controllers", "power semiconductors"),
        ("silicon wafers", "substrates", "specialty gases"),
        ("fab", "test facility"),
        ("cloud provider", "smartphone maker"),
        _ALL_THEMES,
    ),
    _Sector(
        "industrial machinery",
        ("Industries", "Machinery"),
        ("hydraulic pumps", "factory automation systems", "air compressors", "motion controllers"),
        ("steel", "aluminum castings", "electronic components"),
        ("plant", "assembly plant"),
        ("automaker", "food processor"),
        _ALL_THEMES,
    ),
    _Sector(
        "retail",
        ("Stores", "Retail Group"),
        ("private-label apparel", "home goods", "outdoor furniture", "online marketplace"),
        ("cotton", "corrugated packaging", "imported merchandise"),
        ("distribution center", "fulfillment center"),
        ("loyalty member", "wholesale partner"),
        (
            "supply_chain",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "china_demand",
            "capital_returns",
        ),
    ),
    _Sector(
        "consumer packaged goods",
        ("Brands", "Foods"),
        ("snack brands", "household cleaning products", "personal care products", "sparkling beverages"),
        ("resin", "corn and wheat", "aluminum cans"),
        ("bottling plant", "bakery"),
        ("grocery chain", "club store operator"),
        (
            "supply_chain",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "china_demand",
            "capital_returns",
        ),
    ),
    _Sector(
        "utilities",
        ("Energy", "Power"),
        ("grid services", "battery storage", "natural gas distribution", "utility-scale solar"),
        ("transformers", "solar panels", "natural gas"),
        ("generating station", "substation"),
        ("municipal utility", "data-center developer"),
        (
            "supply_chain",
            "ai_datacenter",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "energy_transition",
            "capital_returns",
        ),
    ),
    _Sector(
        "software",
        ("Software", "Technologies"),
        ("cloud analytics platform", "cybersecurity suite", "database services", "collaboration software"),
        ("cloud hosting capacity", "servers", "network equipment"),
        ("data center", "engineering center"),
        ("global bank", "federal agency"),
        (
            "ai_datacenter",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "china_demand",
            "capital_returns",
        ),
    ),
    _Sector(
        "transportation",
        ("Logistics", "Transport"),
        ("truckload services", "intermodal shipping", "freight brokerage", "last-mile delivery"),
        ("diesel fuel", "tractors and trailers", "tires"),
        ("terminal", "cross-dock facility"),
        ("big-box retailer", "parcel shipper"),
        (
            "supply_chain",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "china_demand",
            "energy_transition",
            "capital_returns",
        ),
    ),
    _Sector(
        "chemicals",
        ("Chemical", "Materials"),
        ("specialty coatings", "engineered polymers", "industrial gases", "lithium compounds"),
        ("natural gas feedstock", "propylene", "titanium dioxide"),
        ("chemical complex", "plant"),
        ("paint maker", "battery manufacturer"),
        (
            "supply_chain",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "china_demand",
            "energy_transition",
            "capital_returns",
        ),
    ),
    _Sector(
        "medical devices",
        ("Medical", "Health Systems"),
        ("surgical robots", "diagnostic imaging systems", "infusion pumps", "glucose monitors"),
        ("resins", "microchips", "sterile packaging"),
        ("manufacturing site", "sterilization facility"),
        ("hospital network", "group purchasing organization"),
        (
            "supply_chain",
            "ai_datacenter",
            "pricing_inflation",
            "labor_costs",
            "interest_rates",
            "china_demand",
            "capital_returns",
        ),
    ),
    _Sector(
        "electrical equipment",
        ("Electric", "Controls"),
        ("switchgear", "EV chargers", "power transformers", "cooling systems"),
        ("copper", "electrical steel", "semiconductors"),
        ("factory", "service center"),
        ("utility", "data-center operator"),
        _ALL_THEMES,
    ),
)

_NAME_WORDS = (
    "Northwind", "Bluecrest", "Harborview", "Summit", "Ironwood", "Cedar Ridge", "Pinnacle", "Redstone",
    "Silverline", "Granite Peak", "Lakeshore", "Meridian", "Oakmont", "Westfield", "Crescent", "Evergreen",
    "Sterling", "Aurora", "Keystone", "Riverbend", "Copperfield", "Highland", "Bayside", "Stonebridge",
    "Fairhaven", "Larkspur", "Windmere", "Brightwater", "Foxhollow", "Marlowe",
)  # fmt: skip
_LEGAL = ("Inc.", "Corp.", "Holdings", "Company", "Group")
_BRANDS = (
    "Helix", "Vertex", "Atlas", "Nimbus", "Orion", "Quanta", "Strata", "Pulse", "Apex", "Beacon",
    "Cobalt", "Zephyr", "Lumen", "Titan", "Nova", "Sierra", "Vector", "Falcon", "Cirrus", "Ember",
)  # fmt: skip
_FIRST = (
    "James", "Maria", "Robert", "Linda", "Michael", "Priya", "David", "Sarah", "Daniel", "Emily", "Kevin",
    "Olivia", "Thomas", "Grace", "Andrew", "Sofia", "Brian", "Rachel", "Mark", "Hannah", "Steven", "Laura",
    "Carlos", "Megan", "Jason", "Aisha", "Peter", "Julia", "Ryan", "Nicole", "Wei", "Tomas",
)  # fmt: skip
_LAST = (
    "Anderson", "Baker", "Chen", "Dawson", "Ellis", "Fischer", "Garcia", "Hughes", "Iverson", "Johansson",
    "Kaplan", "Lopez", "Morrison", "Nakamura", "O'Brien", "Patel", "Quinn", "Reyes", "Schmidt", "Turner",
    "Underwood", "Vasquez", "Whitaker", "Young", "Zhang", "Brennan", "Castillo", "Donovan", "Feldman", "Harper",
)  # fmt: skip
_BANKS = (
    "Morgan Stanley", "Goldman Sachs", "J.P. Morgan", "Bank of America", "Citi", "UBS", "Barclays",
    "Wells Fargo Securities", "Jefferies", "Evercore ISI", "Bernstein", "Deutsche Bank", "KeyBanc Capital Markets",
    "Raymond James", "Piper Sandler", "RBC Capital Markets", "Wolfe Research", "Stifel", "Baird", "Oppenheimer",
)  # fmt: skip
_CITIES = (
    "Austin", "Columbus", "Monterrey", "Phoenix", "Charlotte", "Raleigh", "Denver", "Nashville", "Atlanta",
    "Salt Lake City", "Kansas City", "Pittsburgh", "Guadalajara", "Dublin", "Singapore", "Rotterdam",
)  # fmt: skip
_REGIONS = ("Southeast Asia", "Europe", "Mexico", "Latin America", "India", "Eastern Europe", "North America")
_ORDINALS = ("fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "twelfth", "fifteenth", "twentieth")
_QUARTER_NAMES = {1: "first quarter", 2: "second quarter", 3: "third quarter", 4: "fourth quarter"}


@dataclass(frozen=True)
class _Firm:
    firm_id: str
    name: str
    short_name: str
    sector: _Sector
    products: tuple[str, ...]
    brand: str
    facilities: tuple[str, ...]
    ceo: str
    cfo: str
    ir: str


class _Slots(dict):
    """Template values drawn on first use, so one sentence uses one value per slot."""

    def __init__(self, rng: np.random.Generator, firm: _Firm, year: int, quarter: int) -> None:
        super().__init__()
        self.rng, self.firm, self.year, self.quarter = rng, firm, year, quarter

    def __missing__(self, key: str) -> str:
        value = self._draw(key)
        self[key] = value
        return value

    def _pick(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def _draw(self, key: str) -> str:
        r, f = self.rng, self.firm
        numbers = {
            "pct": lambda: str(int(r.integers(8, 45))),
            "pct_small": lambda: f"{r.uniform(1.5, 9.5):.1f}",
            "pct_high": lambda: str(int(r.integers(55, 96))),
            "bps": lambda: str(int(r.integers(3, 30)) * 10),
            "musd": lambda: str(int(r.integers(12, 900))),
            "musd_small": lambda: str(int(r.integers(3, 40))),
            "busd": lambda: f"{r.uniform(1.1, 4.9):.1f}",
            "weeks": lambda: str(int(r.integers(18, 44))),
            "weeks_short": lambda: str(int(r.integers(6, 15))),
            "count": lambda: str(int(r.integers(3, 25))),
            "count_large": lambda: str(int(r.integers(80, 1500))),
            "megawatts": lambda: str(int(r.integers(50, 900))),
            "leverage": lambda: f"{r.uniform(1.2, 3.4):.1f}",
            "rate_high": lambda: f"{r.uniform(4.6, 6.9):.1f}",
            "rate_low": lambda: f"{r.uniform(2.1, 4.2):.1f}",
            "mshares": lambda: f"{r.uniform(0.4, 9.5):.1f}",
            "price": lambda: f"{r.uniform(35, 260):.2f}",
            "dps": lambda: f"{r.uniform(0.2, 1.9):.2f}",
            "eps": lambda: f"{r.uniform(0.4, 4.8):.2f}",
            "digit": lambda: str(int(r.integers(2, 9))),
            "anniversary": lambda: str(int(r.integers(2, 15)) * 10),
            "year_soon": lambda: str(self.year + int(r.integers(1, 4))),
            "year_late": lambda: str(self.year + int(r.integers(5, 11))),
            "version": lambda: f"{r.integers(2, 9)}{self._pick(('', ' Pro', ' Max', 'X', ' Plus'))}",
        }
        if key in numbers:
            return numbers[key]()
        if key == "busd_high":
            return f"{float(self['busd']) + r.uniform(0.1, 0.4):.1f}"
        words = {
            "product": lambda: self._pick(f.products),
            "input": lambda: self._pick(f.sector.inputs),
            "facility": lambda: self._pick(f.facilities),
            "region": lambda: self._pick(_REGIONS),
            "city": lambda: self._pick(_CITIES),
            "customer": lambda: self._pick(f.sector.customers),
            "brand": lambda: f.brand,
            "nth": lambda: self._pick(_ORDINALS),
            "person": lambda: f"{self._pick(_FIRST)} {self._pick(_LAST)}",
            "acquired": lambda: f"{self._pick(_NAME_WORDS)} {self._pick(f.sector.suffixes)}",
            "divested": lambda: self._pick(
                ("aftermarket parts", "consulting", "legacy hardware", "specialty retail")
            ),
            "quarter_name": lambda: _QUARTER_NAMES[self.quarter],
            "next_quarter_name": lambda: _QUARTER_NAMES[self.quarter % 4 + 1],
            "next_year": lambda: str(self.year + 1),
        }
        if key in words:
            return words[key]()
        raise KeyError(f"unknown demo template slot {{{key}}}")


def generate_demo_corpus(
    n_firms: int = 12,
    quarter: str = "2024Q1",
    seed: int = 0,
    sentences_per_firm: tuple[int, int] = (250, 400),
) -> pd.DataFrame:
    """Generate ``n_firms`` earnings calls for ``quarter`` (one row per sentence, input schema plus
    ``planted_topic``). Same arguments, same frame."""
    year, q = parse_quarter(quarter)
    low, high = sentences_per_firm
    if n_firms < 1 or low < 100 or high < low:
        raise ValueError(
            f"need n_firms >= 1 and 100 <= low <= high sentences per firm, got {n_firms}, {sentences_per_firm}"
        )
    rng = np.random.default_rng(seed)
    firms = _make_firms(rng, n_firms)
    targets = [int(rng.integers(low, high + 1)) for _ in firms]
    themes = _assign_themes(rng, firms, [_theme_count(t) for t in targets])
    frames = []
    for i, (firm, target, firm_themes) in enumerate(zip(firms, targets, themes, strict=True)):
        firm_rng = np.random.default_rng([seed, i])
        rows = _CallWriter(firm_rng, firm, year, q).write(firm_themes, target)
        frame = pd.DataFrame(rows, columns=["section", "speaker", "text", "planted_topic"])
        frame.insert(0, "firm_id", firm.firm_id)
        frame.insert(1, "firm_name", firm.name)
        frame.insert(2, "quarter", quarter)
        frame.insert(3, "call_date", _call_date(firm_rng, year, q).isoformat())
        frame.insert(6, "sentence_index", np.arange(len(frame), dtype="int64"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_demo_corpus(path: Path, **kw: object) -> Path:
    """Write ``generate_demo_corpus(**kw)`` to ``path`` as Parquet (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_demo_corpus(**kw).to_parquet(path, index=False)  # type: ignore[arg-type]
    return path


# --------------------------------------------------------------------------- firms and themes

_BOILERPLATE_ESTIMATE = 45
_OTHER_SHARE = 0.07
_MAX_THEME_SENTENCES = 70


def _theme_count(target: int) -> int:
    """3-5 themes, more for longer calls, so each theme gets about 30-70 sentences."""
    room = target - _BOILERPLATE_ESTIMATE - int(target * _OTHER_SHARE)
    return int(np.clip(round(room / 55), 3, 5))


def _make_firms(rng: np.random.Generator, n_firms: int) -> list[_Firm]:
    sector_order = rng.permutation(len(_SECTORS))
    name_order = rng.permutation(len(_NAME_WORDS))
    firms: list[_Firm] = []
    used_ids: set[str] = set()
    for i in range(n_firms):
        sector = _SECTORS[sector_order[i % len(_SECTORS)]]
        word = _NAME_WORDS[name_order[i % len(_NAME_WORDS)]]
        suffix = sector.suffixes[(i // len(_SECTORS)) % len(sector.suffixes)]
        round_ = i // (len(_NAME_WORDS) * len(sector.suffixes))
        short = f"{word} {suffix}" + (f" {round_ + 1}" if round_ else "")
        name = f"{short} {_LEGAL[int(rng.integers(len(_LEGAL)))]}"
        firm_id = _ticker(short, used_ids)
        used_ids.add(firm_id)
        brands = rng.choice(len(_BRANDS), size=3, replace=False)
        categories = rng.choice(len(sector.products), size=3, replace=False)
        products = tuple(
            f"{_BRANDS[b]} {sector.products[c]}" for b, c in zip(brands, categories, strict=True)
        )
        cities = rng.choice(len(_CITIES), size=2, replace=False)
        facilities = tuple(
            f"our {_CITIES[c]} {sector.sites[j % len(sector.sites)]}" for j, c in enumerate(cities)
        )
        people = [
            f"{_FIRST[int(rng.integers(len(_FIRST)))]} {_LAST[int(rng.integers(len(_LAST)))]}"
            for _ in range(3)
        ]
        firms.append(_Firm(firm_id, name, short, sector, products, _BRANDS[brands[0]], facilities, *people))
    return firms


def _ticker(name: str, used: set[str]) -> str:
    letters = "".join(ch for ch in name.upper() if ch.isalpha())
    words = [w for w in name.upper().split() if w[0].isalpha()]
    candidates = ["".join(w[0] for w in words) + letters[1:3], letters[:4], letters[:3] + letters[-1]]
    for candidate in candidates:
        if candidate[:5] not in used:
            return candidate[:5]
    n = 2
    while f"{letters[:3]}{n}" in used:
        n += 1
    return f"{letters[:3]}{n}"


def _assign_themes(rng: np.random.Generator, firms: list[_Firm], counts: list[int]) -> list[tuple[str, ...]]:
    """Give each firm ``counts[i]`` themes its sector can discuss, least-used themes first, then make
    sure every theme reaches three firms where that is possible."""
    usage = dict.fromkeys(PLANTED_THEMES, 0)
    chosen: list[list[str]] = []
    for firm, k in zip(firms, counts, strict=True):
        options = list(firm.sector.themes)
        ties = rng.permutation(len(options))
        options = [options[i] for i in ties]
        options.sort(key=lambda t: usage[t])
        picked = options[:k]
        for t in picked:
            usage[t] += 1
        chosen.append(picked)
    for theme in PLANTED_THEMES:
        for i, firm in enumerate(firms):
            if usage[theme] >= 3:
                break
            if theme in chosen[i] or theme not in firm.sector.themes:
                continue
            if len(chosen[i]) < 5:
                chosen[i].append(theme)
                usage[theme] += 1
                continue
            spare = [t for t in chosen[i] if usage[t] > 3]
            if spare:
                chosen[i][chosen[i].index(spare[0])] = theme
                usage[spare[0]] -= 1
                usage[theme] += 1
    return [tuple(c) for c in chosen]


def _call_date(rng: np.random.Generator, year: int, quarter: int) -> date:
    month = quarter * 3
    quarter_end = date(year, month, calendar.monthrange(year, month)[1])
    return quarter_end + timedelta(days=int(rng.integers(18, 46)))


# --------------------------------------------------------------------------- one call


class _CallWriter:
    """Writes one call as ``(section, speaker, text, planted_topic)`` rows."""

    def __init__(self, rng: np.random.Generator, firm: _Firm, year: int, quarter: int) -> None:
        self.rng, self.firm, self.year, self.quarter = rng, firm, year, quarter
        self.rows: list[tuple[str, str, str, str]] = []
        self._decks: dict[str, list[str]] = {}

    # -- template drawing ------------------------------------------------

    def _fill(self, template: str) -> str:
        return template.format_map(_Slots(self.rng, self.firm, self.year, self.quarter))

    def _draw(self, deck: str, templates: Sequence[str]) -> str:
        """Next template of a per-firm shuffled deck (reshuffled when used up), so repeats are rare."""
        cards = self._decks.get(deck)
        if not cards:
            cards = [templates[i] for i in self.rng.permutation(len(templates))]
            self._decks[deck] = cards
        return cards.pop()

    def _statement(self, theme: str, lead_ins: Sequence[str], lead_in_rate: float) -> str:
        text = self._fill(self._draw(theme, PLANTED_THEMES[theme].statements))
        if self.rng.random() < lead_in_rate and _can_lower_first_word(text):
            text = self._fill(lead_ins[int(self.rng.integers(len(lead_ins)))]) + text[0].lower() + text[1:]
        return text

    def _other(self) -> str:
        return self._fill(self._draw(OTHER, _OTHER_TEMPLATES))

    def _say(self, section: str, speaker: str, text: str, topic: str) -> None:
        self.rows.append((section, speaker, text, topic))

    # -- the call ----------------------------------------------------------

    def write(self, themes: Sequence[str], target: int) -> list[tuple[str, str, str, str]]:
        r = self.rng
        n_analysts = int(r.integers(4, 8))
        n_other = max(6, int(target * _OTHER_SHARE))
        theme_sizes = _split(r, target - self._boilerplate_count(n_analysts) - n_other, len(themes))
        n_other += sum(max(0, size - _MAX_THEME_SENTENCES) for size in theme_sizes)
        theme_sizes = [min(size, _MAX_THEME_SENTENCES) for size in theme_sizes]
        qa_sizes = {
            t: round(size * r.uniform(0.35, 0.5)) for t, size in zip(themes, theme_sizes, strict=True)
        }
        prepared = {t: size - qa_sizes[t] for t, size in zip(themes, theme_sizes, strict=True)}

        self._introduction()
        self._prepared_remarks(themes, prepared, n_other)
        self._questions_and_answers(_plan_exchanges(r, qa_sizes, n_analysts))
        self._closing()
        assert len(self.rows) == target, (len(self.rows), target)
        return self.rows

    def _boilerplate_count(self, n_analysts: int) -> int:
        # introduction 13, hand-offs 4, Q&A opening 2, per analyst 4, closing 5
        return 13 + 4 + 2 + 4 * n_analysts + 5

    def _introduction(self) -> None:
        f = self.firm
        year_title = f"{_QUARTER_NAMES[self.quarter].title()} {self.year}"
        ceo_first = f.ceo.split()[0]
        operator = (
            f"Good morning, and welcome to the {f.name} {year_title} Earnings Conference Call.",
            "At this time, all participants are in a listen-only mode.",
            "After the speakers' presentation, there will be a question-and-answer session.",
            "Please be advised that today's conference is being recorded.",
            f"I would now like to hand the conference over to your speaker today, {f.ir}, Head of Investor Relations.",
        )
        investor_relations = (
            "Thank you, operator, and good morning, everyone.",
            f"Joining me today are {f.ceo}, our Chief Executive Officer, and {f.cfo}, our Chief Financial Officer.",
            "Before we begin, I would like to remind you that today's remarks include forward-looking statements "
            "within the meaning of the Private Securities Litigation Reform Act of 1995.",
            "These statements are subject to risks and uncertainties that could cause actual results to differ "
            "materially from those expressed or implied.",
            "Please refer to our most recent Form 10-K and subsequent filings with the SEC for a discussion of "
            "these risk factors.",
            "We will also discuss certain non-GAAP financial measures, and reconciliations to the most directly "
            "comparable GAAP measures are included in our earnings release.",
            "The earnings release and slide presentation are available on the Investor Relations section of our website.",
            f"With that, I'll turn the call over to {ceo_first}.",
        )
        for text in operator:
            self._say("prepared", "Operator", text, BOILERPLATE)
        for text in investor_relations:
            self._say("prepared", f.ir, text, BOILERPLATE)

    def _prepared_remarks(self, themes: Sequence[str], sizes: dict[str, int], n_other: int) -> None:
        f, r = self.firm, self.rng
        ceo_first, cfo_first = f.ceo.split()[0], f.cfo.split()[0]
        ceo_share = {t: round(sizes[t] * r.uniform(0.6, 0.8)) for t in themes}
        ceo_other = n_other // 2
        self._say(
            "prepared", f.ceo, f"Thank you, {f.ir.split()[0]}, and good morning, everyone.", BOILERPLATE
        )
        self._remarks(f.ceo, [(t, ceo_share[t]) for t in _shuffled(r, themes)], ceo_other)
        self._say(
            "prepared",
            f.ceo,
            f"With that, I'll turn it over to {cfo_first} to walk through our financial results.",
            BOILERPLATE,
        )
        self._say("prepared", f.cfo, f"Thanks, {ceo_first}, and good morning, everyone.", BOILERPLATE)
        cfo_blocks = [(t, sizes[t] - ceo_share[t]) for t in _shuffled(r, themes)]
        self._remarks(f.cfo, cfo_blocks, n_other - ceo_other)
        self._say("prepared", f.cfo, "With that, operator, we're ready to take questions.", BOILERPLATE)

    def _remarks(self, speaker: str, blocks: list[tuple[str, int]], n_other: int) -> None:
        """Theme blocks in order, with the firm's one-off sentences spread between them."""
        others = np.array_split(np.arange(n_other), len(blocks) + 1)
        for (theme, size), other in zip(blocks, others, strict=False):
            for _ in other:
                self._say("prepared", speaker, self._other(), OTHER)
            for _ in range(size):
                self._say("prepared", speaker, self._statement(theme, _LEAD_INS, 0.3), theme)
        for _ in others[-1]:
            self._say("prepared", speaker, self._other(), OTHER)

    def _questions_and_answers(self, analysts: list[list[tuple[str, int]]]) -> None:
        """One turn per analyst: a question and a follow-up or two, each ``(theme, sentences)`` of
        which one or two are the analyst's question and the rest an executive's answer."""
        f, r = self.firm, self.rng
        self._say("qa", "Operator", "We will now begin the question-and-answer session.", BOILERPLATE)
        self._say("qa", "Operator", "Please limit yourself to one question and one follow-up.", BOILERPLATE)
        for n, exchanges in enumerate(analysts):
            analyst = f"{_FIRST[int(r.integers(len(_FIRST)))]} {_LAST[int(r.integers(len(_LAST)))]}"
            bank = _BANKS[int(r.integers(len(_BANKS)))]
            lead = "Our first question comes from" if n == 0 else "Our next question comes from"
            self._say("qa", "Operator", f"{lead} {analyst} with {bank}.", BOILERPLATE)
            self._say("qa", "Operator", "Your line is open.", BOILERPLATE)
            greeting = (
                "Hi, good morning, and thanks for taking my question.",
                "Hey, good morning, everyone.",
                "Thanks for taking the question.",
            )[int(r.integers(3))]
            self._say("qa", analyst, greeting, BOILERPLATE)
            for theme, size in exchanges:
                n_questions = 1 if size < 7 else 2
                for _ in range(n_questions):
                    question = self._fill(self._draw(theme + ":q", PLANTED_THEMES[theme].questions))
                    self._say("qa", analyst, question, theme)
                answerer = f.ceo if r.random() < 0.6 else f.cfo
                for _ in range(size - n_questions):
                    self._say("qa", answerer, self._statement(theme, _ANSWER_LEAD_INS, 0.35), theme)
            thanks = ("Great, thanks.", "Thank you.", "That's helpful, thanks.")[int(r.integers(3))]
            self._say("qa", analyst, thanks, BOILERPLATE)

    def _closing(self) -> None:
        f = self.firm
        ceo_first = f.ceo.split()[0]
        self._say("qa", "Operator", "There are no further questions at this time.", BOILERPLATE)
        self._say(
            "qa", "Operator", f"I'll turn the call back over to {ceo_first} for closing remarks.", BOILERPLATE
        )
        self._say(
            "qa",
            f.ceo,
            f"Thank you all for joining us today and for your continued interest in {f.short_name}.",
            BOILERPLATE,
        )
        self._say("qa", f.ceo, "We look forward to updating you on our progress next quarter.", BOILERPLATE)
        self._say(
            "qa",
            "Operator",
            "This concludes today's conference call, and you may now disconnect.",
            BOILERPLATE,
        )


def _plan_exchanges(
    rng: np.random.Generator, qa_sizes: dict[str, int], n_analysts: int
) -> list[list[tuple[str, int]]]:
    """Cut each theme's Q&A sentences into exchanges of about 4-8 sentences, shuffle them and deal
    them to ``n_analysts`` analysts (every analyst gets at least one)."""
    exchanges: list[tuple[str, int]] = []
    for theme, size in qa_sizes.items():
        if size > 0:
            exchanges.extend((theme, part) for part in _split(rng, size, max(1, round(size / 6))))
    while len(exchanges) < n_analysts:  # too few exchanges: halve the largest
        exchanges.sort(key=lambda e: e[1])
        theme, size = exchanges.pop()
        exchanges += [(theme, size // 2), (theme, size - size // 2)]
    order = rng.permutation(len(exchanges))
    cuts = np.sort(rng.choice(np.arange(1, len(exchanges)), size=n_analysts - 1, replace=False))
    return [[exchanges[i] for i in part] for part in np.split(order, cuts)]


def _shuffled(rng: np.random.Generator, items: Sequence[str]) -> list[str]:
    return [items[i] for i in rng.permutation(len(items))]


def _split(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` positive integers with random, not-too-uneven weights."""
    weights = rng.uniform(0.7, 1.3, size=parts)
    sizes = np.floor(weights / weights.sum() * total).astype(int)
    sizes[: total - sizes.sum()] += 1
    return [max(int(s), 1) for s in sizes]


_PROPER_STARTS = {"China", "Chinese", "Mexico", "Asia", "United", "Federal", "Inflation", "Scope", "Every"}


def _can_lower_first_word(text: str) -> bool:
    """A lead-in can be put in front when lower-casing the first word keeps the sentence correct."""
    words = text.split()
    first = words[0].rstrip(",")
    if not first.isalpha() or first in _PROPER_STARTS or not first[1:].islower():
        return False
    return len(words) < 2 or not words[1][:1].isupper()
