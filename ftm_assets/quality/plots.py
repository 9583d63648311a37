"""Quarter plots from the warehouse: theme overview, firm x theme heatmap, topics per firm.

``load_plot_data`` reads one quarter's rows (three small aggregate queries); the ``*_png``
functions render PNG bytes with matplotlib's Agg canvas (``Figure`` objects, no pyplot state);
``write_quarter_plots`` does both and writes the files, and ``QuarterPlot.markdown()`` embeds a
plot as a base64 image for Markdown metadata (the Dagster UI shows it on the asset).

Large quarters are cut to what a plot can show and the title says so: the overview keeps the
``max_themes`` largest themes, the heatmap the ``max_firms`` firms with most themed topics, and
topics per firm becomes a histogram above ``max_bars`` firms.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from ftm_assets.modeling.types import Theme, TopicRef

__all__ = [
    "PLOT_NAMES",
    "QuarterPlot",
    "QuarterPlotData",
    "firm_theme_heatmap_png",
    "load_plot_data",
    "plot_data_from_themes",
    "render_quarter_plots",
    "theme_overview_png",
    "topics_per_firm_png",
    "write_quarter_plots",
]

PLOT_NAMES = {
    "theme_overview": "Themes: firms and topics per theme",
    "firm_theme_heatmap": "Topics per firm and theme",
    "topics_per_firm": "Topics per firm",
}
_DPI = 90
_NAME_CHARS = 48


@dataclass(frozen=True)
class QuarterPlotData:
    """What the plots need of one quarter (plain rows, so tests can build it by hand)."""

    quarter: str
    themes: Sequence[tuple[int, str, int, int]]  # theme_local_id, name, n_firms, n_topics
    firm_theme_topics: Sequence[tuple[str, int, int]]  # firm_id, theme_local_id, topics of the firm in it
    firms: Sequence[tuple[str, int]]  # firm_id, n_topics


@dataclass(frozen=True)
class QuarterPlot:
    name: str
    title: str
    png: bytes
    path: Path | None = None

    def markdown(self) -> str:
        """The plot as a Markdown image with a base64 data URL."""
        return f"![{self.title}](data:image/png;base64,{base64.b64encode(self.png).decode('ascii')})"


def load_plot_data(conn: psycopg.Connection, quarter: str) -> QuarterPlotData:
    themes = conn.execute(
        "SELECT theme_local_id, name, n_firms, n_topics FROM themes WHERE quarter = %s"
        " ORDER BY theme_local_id",
        (quarter,),
    ).fetchall()
    cells = conn.execute(
        "SELECT t.firm_id, th.theme_local_id, count(*) FROM topic_themes tt"
        " JOIN topics t USING (topic_id) JOIN themes th USING (theme_id)"
        " WHERE th.quarter = %s GROUP BY t.firm_id, th.theme_local_id ORDER BY 1, 2",
        (quarter,),
    ).fetchall()
    firms = conn.execute(
        "SELECT firm_id, n_topics FROM firms WHERE quarter = %s ORDER BY firm_id", (quarter,)
    ).fetchall()
    return QuarterPlotData(
        quarter,
        [(int(a), str(b), int(c), int(d)) for a, b, c, d in themes],
        [(str(a), int(b), int(c)) for a, b, c in cells],
        [(str(a), int(b)) for a, b in firms],
    )


def plot_data_from_themes(
    quarter: str, topics: Sequence[TopicRef], themes: Sequence[Theme]
) -> QuarterPlotData:
    """The same data as ``load_plot_data`` from a themes stage's input and output (before they
    are stored): ``topics`` are all topic summaries of the quarter, ``themes`` the built themes."""
    firm_of = {t.topic_id: t.firm_id for t in topics}
    per_firm: dict[str, int] = {}
    for t in topics:
        per_firm[t.firm_id] = per_firm.get(t.firm_id, 0) + 1
    cells: dict[tuple[str, int], int] = {}
    for theme in themes:
        for topic_id in theme.member_topic_ids:
            key = (firm_of.get(topic_id, "?"), theme.theme_local_id)
            cells[key] = cells.get(key, 0) + 1
    return QuarterPlotData(
        quarter,
        [
            (t.theme_local_id, t.name, t.n_firms, t.n_topics)
            for t in sorted(themes, key=lambda t: t.theme_local_id)
        ],
        [(firm, theme, n) for (firm, theme), n in sorted(cells.items())],
        sorted(per_firm.items()),
    )


def _short(text: str, limit: int = _NAME_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _empty(title: str, message: str) -> bytes:
    fig = _figure(6, 2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return _png(fig)


def theme_overview_png(data: QuarterPlotData, max_themes: int = 30) -> bytes:
    """Horizontal bars per theme: topics and firms, largest themes first."""
    title = f"{data.quarter}: {PLOT_NAMES['theme_overview'].lower()}"
    if not data.themes:
        return _empty(title, "no themes in this quarter")
    shown = sorted(data.themes, key=lambda t: (-t[3], t[0]))[:max_themes]
    if len(shown) < len(data.themes):
        title += f" (largest {len(shown)} of {len(data.themes)})"
    labels = [f"{t[0]}. {_short(t[1])}" for t in shown]
    y = np.arange(len(shown))
    fig = _figure(9, 1.2 + 0.32 * len(shown))
    ax = fig.add_subplot()
    ax.barh(y - 0.2, [t[3] for t in shown], height=0.4, label="topics", color="#4C72B0")
    ax.barh(y + 0.2, [t[2] for t in shown], height=0.4, label="firms", color="#DD8452")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("count")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def firm_theme_heatmap_png(data: QuarterPlotData, max_firms: int = 40, max_themes: int = 30) -> bytes:
    """Firms (rows) x themes (columns); a cell holds the number of the firm's topics in the theme."""
    title = f"{data.quarter}: {PLOT_NAMES['firm_theme_heatmap'].lower()}"
    if not data.firm_theme_topics:
        return _empty(title, "no topic is in a theme")
    themes = [t[0] for t in sorted(data.themes, key=lambda t: (-t[3], t[0]))[:max_themes]]
    per_firm: dict[str, int] = {}
    for firm, theme, n in data.firm_theme_topics:
        if theme in themes:
            per_firm[firm] = per_firm.get(firm, 0) + n
    firms = sorted(per_firm, key=lambda f: (-per_firm[f], f))[:max_firms]
    all_firms = len({f for f, _, _ in data.firm_theme_topics})
    if len(firms) < all_firms or len(themes) < len(data.themes):
        title += f" ({len(firms)} of {all_firms} firms, {len(themes)} of {len(data.themes)} themes)"
    row, col = {f: i for i, f in enumerate(firms)}, {t: j for j, t in enumerate(themes)}
    grid = np.zeros((len(firms), len(themes)), dtype=int)
    for firm, theme, n in data.firm_theme_topics:
        if firm in row and theme in col:
            grid[row[firm], col[theme]] = n
    fig = _figure(1.8 + 0.32 * len(themes), 1.4 + 0.26 * len(firms))
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0)
    ax.set_xticks(range(len(themes)), [str(t) for t in themes], fontsize=8)
    ax.set_yticks(range(len(firms)), firms, fontsize=8)
    ax.set_xlabel("theme (#, see theme overview)")
    ax.set_title(title, fontsize=10)
    if grid.size <= 600:
        for (i, j), n in np.ndenumerate(grid):
            if n:
                ax.text(
                    j,
                    i,
                    str(n),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if n > grid.max() / 2 else "black",
                )
    from matplotlib.ticker import MaxNLocator

    fig.colorbar(image, ax=ax, label="topics", ticks=MaxNLocator(integer=True))
    return _png(fig)


def topics_per_firm_png(data: QuarterPlotData, max_bars: int = 60) -> bytes:
    """Bars per firm (topics in a theme / not in a theme), or a histogram for many firms."""
    title = f"{data.quarter}: {PLOT_NAMES['topics_per_firm'].lower()}"
    if not data.firms:
        return _empty(title, "no firms stored for this quarter")
    themed: dict[str, int] = {}
    for firm, _theme, n in data.firm_theme_topics:
        themed[firm] = themed.get(firm, 0) + n
    if len(data.firms) > max_bars:
        fig = _figure(8, 4)
        ax = fig.add_subplot()
        counts = np.array([n for _, n in data.firms])
        ax.hist(counts, bins=np.arange(counts.max() + 2) - 0.5, color="#4C72B0")
        ax.set_xlabel("topics per firm")
        ax.set_ylabel("firms")
        ax.set_title(f"{title} ({len(data.firms)} firms, mean {counts.mean():.1f})", fontsize=10)
        return _png(fig)
    firms = sorted(data.firms, key=lambda f: (-f[1], f[0]))
    names = [f for f, _ in firms]
    in_theme = np.array([min(themed.get(f, 0), n) for f, n in firms])
    total = np.array([n for _, n in firms])
    x = np.arange(len(firms))
    fig = _figure(2 + 0.3 * len(firms), 4)
    ax = fig.add_subplot()
    ax.bar(x, in_theme, color="#4C72B0", label="in a theme")
    ax.bar(x, total - in_theme, bottom=in_theme, color="#C7C7C7", label="in no theme")
    ax.set_xticks(x, names, rotation=90, fontsize=8)
    ax.set_ylabel("topics")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def render_quarter_plots(data: QuarterPlotData) -> list[QuarterPlot]:
    renderers = {
        "theme_overview": theme_overview_png,
        "firm_theme_heatmap": firm_theme_heatmap_png,
        "topics_per_firm": topics_per_firm_png,
    }
    return [QuarterPlot(name, PLOT_NAMES[name], render(data)) for name, render in renderers.items()]


def write_quarter_plots(conn: psycopg.Connection, quarter: str, out_dir: Path) -> list[QuarterPlot]:
    """Render the quarter's plots from the database and write ``out_dir/<quarter>/<name>.png``."""
    folder = Path(out_dir) / quarter
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for plot in render_quarter_plots(load_plot_data(conn, quarter)):
        path = folder / f"{plot.name}.png"
        path.write_bytes(plot.png)
        written.append(QuarterPlot(plot.name, plot.title, plot.png, path))
    return written
