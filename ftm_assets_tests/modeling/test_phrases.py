"""Offline names: phrases from the members' own text, participant names found in boilerplate."""

from __future__ import annotations

from ftm_assets.modeling.firm_topics import topic_stop_words
from ftm_assets.modeling.phrases import keyphrase, participant_names, phrase_name

STOP = frozenset(topic_stop_words())
OIL = [
    "Crude oil prices fell sharply in April.",
    "We saw crude oil prices recover in June.",
    "Lower oil prices hurt our upstream business.",
    "The price of crude oil matters to our customers.",
]


def test_keyword_is_expanded_to_the_phrase_the_speakers_repeat() -> None:
    assert keyphrase(["prices", "crude", "oil", "price"], OIL, STOP) == "crude oil prices"


def test_phrase_words_all_come_from_the_keywords() -> None:
    # "fell sharply" follows "prices" but is no keyword: never part of the name.
    assert keyphrase(["prices", "oil"], OIL, STOP) == "oil prices"


def test_extra_words_widen_the_phrase_vocabulary_but_not_its_start() -> None:
    texts = ["Free cash flow was strong.", "We grew free cash flow.", "Free cash flow conversion."]
    assert keyphrase(["cash", "free"], texts, STOP) == "free cash"
    assert keyphrase(["cash", "free"], texts, STOP, extra_words={"flow"}) == "free cash flow"
    # An extra word alone never names anything: the phrase holds a keyword.
    assert keyphrase(["debt"], texts, STOP, extra_words={"flow", "cash"}) is None


def test_a_phrase_said_once_does_not_replace_the_keyword() -> None:
    texts = ["Foreign exchange headwinds cost us.", "Exchange rates moved.", "Exchange rates again."]
    assert keyphrase(["exchange", "foreign", "headwinds"], texts, STOP) == "exchange"
    texts.append("Foreign exchange headwinds persisted.")
    assert keyphrase(["exchange", "foreign", "headwinds"], texts, STOP) == "foreign exchange headwinds"


def test_phrases_do_not_run_across_punctuation_and_keep_acronyms() -> None:
    texts = ["Key terms: oil, prices.", "COVID cases rose.", "COVID costs.", "Our covid response."]
    assert keyphrase(["oil", "prices"], texts, STOP) == "oil"
    assert keyphrase(["covid"], texts, STOP) == "COVID"


def test_single_word_names_get_a_second_phrase() -> None:
    texts = ["Pricing held.", "Demand softened.", "Pricing and demand."]
    assert phrase_name(["pricing", "demand"], texts, STOP) == "pricing and demand"
    assert phrase_name(["supply chain"], texts, STOP) is None
    # The second phrase never repeats the first's words.
    texts = ["The pipeline grew."] * 6 + ["On the Nordex pipeline.", "Nordex pipeline again."]
    assert phrase_name(["pipeline", "nordex"], texts, STOP) == "pipeline and nordex"


def test_stop_words_never_enter_a_phrase() -> None:
    texts = ["This quarter revenue grew.", "Quarter revenue was up.", "Revenue grew."]
    assert keyphrase(["revenue", "quarter"], texts, STOP) == "revenue"


def test_participant_names_come_from_boilerplate_and_are_never_lower_case() -> None:
    texts = [
        "Our next question comes from Juan Perez with Citi.",
        "Thank you, Steve.",
        "Steve, on margins, we expect expansion.",
        "Welcome to the Acme second quarter call, Exchange listed.",
        "Foreign exchange was a headwind.",
    ]
    flagged = [True, True, False, True, False]
    names = participant_names(texts, flagged)
    assert {"juan", "perez", "citi", "steve", "acme"} <= names
    assert "exchange" not in names  # written in lower case elsewhere: a word, not a name
    assert "our" not in names and "thank" not in names  # sentence-initial words are not names


def test_possessives_firm_name_and_adverbs() -> None:
    texts = ["Welcome to Danaher's call.", "I'd like to thank Rainer.", "Certainly, margins grew."]
    names = participant_names(texts, [True, True, False], firm_name="Danaher Corporation")
    assert {"danaher", "corporation", "rainer"} <= names
    assert "i'd" not in names
    assert keyphrase(["certainly", "margins"], texts, STOP) == "margins"
