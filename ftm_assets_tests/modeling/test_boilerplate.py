"""is_boilerplate on lines picked by hand from the Earnings-21 corpus (verbatim, disfluencies
and transcription slips included), plus a few constructed edge cases."""

from __future__ import annotations

import pandas as pd
import pytest

from ftm_assets.modeling.boilerplate import BOILERPLATE_STOP_WORDS, EARNINGS_CALL_STOP_WORDS, is_boilerplate

REAL_BOILERPLATE = (
    # courtesy and greetings
    "Thanks Scott.",
    "Yeah, thank you, Ben.",
    "Thank you, Jean-Marc, and thank you everyone for joining the call today.",
    "Good morning everyone and thanks for joining us on the call.",
    "Good morning, Andrew?",
    "good morning, Sharon.",
    "Thanks for taking my question.",
    "Thanks for taking my questions.",
    "Great, thanks for taking the questions, guys.",
    "Thanks for the, color on that.",
    "Thank you very much for taking my question and congratulations on a really strong quarter.",
    "Thank you very much… Thank you, Mr. Gandolfi.",
    "Thank you v- Thank you very much.",
    "thanks, thanks for the question and, and good morning.",
    "Good morning, everyone and good afternoon to those in Europe.",
    "Hi, yes, sorry.",
    "Yeah, hi Craig, how are you?",
    "That's a good question Jason thank you.",
    "Great question.",
    "Thank you both.",
    "Thanks for the color, and good luck.",
    "Yeah, hi guys and congrats on all the progress.",
    "Welcome to all participants, also, from my side.",
    # operator: queue and hand-offs
    "Next question, please.",
    "Our next question comes from line of Jason English with Goldman Sachs.",
    "Your next question comes from the line of Elyse Greenspan with Wells Fargo.",
    "The first question is from Benjamin Theurer with Barclays.",
    "This question will come from Harry Wyburd of Bank of America.",
    "Joc, we have another question from Ben Isaacson.",
    "And now we'll take a question from Ricardo Alves of Morgan Stanley.",
    "We have your first question from Blayne Curtis from Barclays your line's open.",
    "Our first question this morning is from from Guggenheim.",
    "Our next question comes form Pavel Molchanov from Raymond James.",
    "In our next question, is Juan Diaz.",
    "Please go ahead.",
    "Please, go ahead with your question.",
    "Go ahead, Carolina.",
    "Please proceed with your question.",
    "Your line is open.",
    "If you'd like to ask a question, please press star one on your telephone keypad.",
    "If you have a question, please press * 1 on your telephone keypad.",
    "To withdraw your question, please press star then two.",
    "Should you need assistance, please signal a conference specialist by pressing the star key followed by zero.",
    "And once again, in order to ask a question, please press start then the number one on your touch-tone telephone.",
    "After the speakers' presentation, there will be a question and answer session.",
    "We'll limit the question to one per participant to allow the other's questions to be addressed.",
    "There are no further questions at this time, I would like to hand the conference back to the management.",
    "Thank you, and I'm not showing any further questions in the queue sir.",
    "I'd now like to turn the conference over to Mr. Hector Chavez, Managing Director and Head of Investor Relations to make some opening remarks and introduce today's other speakers.",
    "And now I'll turn it over to the operator for Q & A.",
    "Operator, this concludes our prepared remarks, please open the call for questions.",
    "My name's Brandon and I'll be your operator for today.",
    "I am Sandra, the Chorus Call operator.",
    "Please stand by while we compile the Q&A roster.",
    "Please ask a question.",
    "From Morgan Stanley, we have Josh Pokrzywinski.",
    "Josh, you might be on mute.",
    "Can you hear me okay?",
    "All lines have been placed on mute to prevent any background noise.",
    # who is on the call
    "With me today are Vince Angotti, our Chief Executive Officer, and Dr. Pam Palmer, our Chief Medical Officer.",
    "On the call today, we have Chris Ahern, Chief Executive Officer and Taylor Smith, Chief Financial Officer.",
    "I'm joined by our CFO, Markus Krebber, who will run through the presentation before we move on to Q&As later in the call.",
    "I would now like to introduce the company's Chief Financial Officer, Mr. Josh Reed.",
    # opening and closing
    "Greetings, and welcome to the New Home Company's third quarter 2020 results conference call.",
    "Good morning, and welcome, everyone, to FEMSA's Second Quarter 2020 Financial Results Conference Call.",
    "Ladies and gentlemen thank you for standing by and welcome to the Ingersoll Rand first quarter, 2020 earnings conference calls.",
    "Please be advised that today's conference is being recorded.",
    "This concludes today's conference call.",
    "Ladies and gentlemen, the conference is now over.",
    "We have come to the end of our planned session and our conference call.",
    "You may now disconnect.",
    "Thank you for your participation.",
    "Be well and be safe, and have a good evening.",
    # safe harbor
    "Our presentation today includes forward looking statements.",
    "These risks and other uncertainties could cause results to differ materially from those in the forward-looking statements which may be made during the call.",
    "We undertake no obligation to revise or update any forward-looking statements made today as a result of new information, future events or otherwise, except as required by law.",
    "A reminder that these statements made during this call that might include ONE Gas expectations and predictions should be considered forward-looking statements and are covered under the Safe Harbor provision of the Securities Acts of 1933 and 1934.",
    "Traditionally, non- GAAP financial measures may be discussed on this conference call.",
    "For an explanation of this risks, please refer to our filings with the SEC and the Mexican Stock exchange.",
)

REAL_SUBSTANTIVE = (
    "There's no question that COVID-19 is putting real pressure on our businesses.",
    "There is no question that the larger volume helps spread out our costs.",
    "I would like to thank all of them around the world for their extraordinary efforts.",
    "Thanks very much, as, as all of you could see, we have really made significant progress over the last three months.",
    "Our supply chain remains uninterrupted and we see no forward constraints to our planned work, thanks to steady performance by our resource management team related to materials and contractor resources.",
    "This plan has been, it's been very efficient and thanks to its implementation, the gas system is operating with full normality.",
    "Furthermore, we welcome the announcement from the Irish government that the Dublin array offshore project has been designated as one of seven relevant projects, meaning it will be fast-tracked to the new Marine planning regime.",
    "As I pass the call over to Paul, I would again like to reiterate how thrilled we are with the holistic performance during the third quarter and I would like to thank our YETI team for their exemplary efforts and ability to adapt and thrive so well against a very challenging backdrop.",
    "Before I turn it over to Q&A, I'd like to update you on our initiatives around diversity and inclusion within our organization as this remains of significant importance to us as an organization.",
    "I guess first question is, when do you anticipate Aviation-free cashflow, getting to break even?",
    "And then my last question, how to think about the corporate expense line, you know, as, as we look to, to 2021.",
    "And then the second question I have for you is on your COVID trials.",
    "my question is on the ad market.",
    "The second question is on hydrogen.",
    "On the top line, we had about a two-point impact.",
    "Turning to the bottom line.",
    "Growth was driven by the strength in gold connectivity and consumer product line.",
    "And a lot of that has been done through a remote interaction, video conference.",
    "So then the committees are created and as Steve said, it goes to conference so that they can settle those, those differences.",
    "Our combined ratio for the quarter was 101.3%, an increase of 1.1 points and a 12 and a half point increase in catastrophe losses was largely offset by a 10.6 point improvement in the underlying combined ratio.",
    "Same sales in the quarter were down 0.9% year over year.",
    "So, obviously, playing down debt remains a huge priority, and, we know there is a great return to use our cash that way.",
    "Political spend accelerated as the quarter went on, finishing at 5.8 million versus 1.7 million in Q3 2019 and 3.6 million in Q3 2018.",
    "Secondly, did I hear correctly that, you're on track for a mid teens net retrans, net retrans growth, this year and you mentioned that the growth, the growth retrans is up high twenties pro forma?",
    "I, I think a lot of the things that are working there internationally are a lot of the things that, that, that you hear us doing on the US side.",
    "If we look at 2019, there was no question that there was buildup of global inventory, particularly in the US.",
    "And obviously our forward-looking, we'll provide more guidance, in, in April.",
)

# The corpus dropped courtesy-only lines of up to six words; the classics still must match.
CONSTRUCTED_BOILERPLATE = (
    "Thank you.",
    "Thanks.",
    "Okay, thank you.",
    "Next question.",
    "Operator?",
    "Hope that answers your question.",
    "I hope that answered it, Steve.",
    "Apologies, I was on mute.",
)

CONSTRUCTED_SUBSTANTIVE = (
    "Thanks, how should we think about gross margins in the fourth quarter?",
    "Hi, good morning, can you talk about pricing in the Gulf region?",
    "We stand by our guidance for the full year.",
    "Handset accessories grew 12% in the quarter.",
    "Congratulations to the team for closing the Gulf Power acquisition ahead of schedule.",
    "We have seen our CEO's turnaround plan gain traction in the stores.",
    "We hope this helps our customers reduce their energy costs across all of the regions we serve.",
)


def test_hand_picked_lines_are_real_corpus_lines(corpus: pd.DataFrame) -> None:
    texts = set(corpus["text"])
    missing = [line for line in REAL_BOILERPLATE + REAL_SUBSTANTIVE if line not in texts]
    assert missing == []


@pytest.mark.parametrize("line", REAL_BOILERPLATE + CONSTRUCTED_BOILERPLATE)
def test_boilerplate_lines_match(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize("line", REAL_SUBSTANTIVE + CONSTRUCTED_SUBSTANTIVE)
def test_substantive_lines_do_not_match(line: str) -> None:
    assert not is_boilerplate(line)


@pytest.mark.parametrize("line", ["", "   ", "\n"])
def test_empty_text_is_boilerplate(line: str) -> None:
    assert is_boilerplate(line)


def test_share_of_corpus_flagged_is_plausible(corpus: pd.DataFrame) -> None:
    # The corpus already dropped courtesy lines of <= 6 words, so what is left to flag is the
    # longer courtesy, operator and safe-harbor lines: roughly one line in eight.
    flagged = corpus["text"].map(is_boilerplate)
    assert 0.05 < flagged.mean() < 0.25
    # Operator lines: almost everything the operator-style "question comes from" says matches.
    intros = corpus["text"].str.contains(r"^(?:Our|Your|The) next question (?:comes|is) from \w", regex=True)
    assert intros.sum() > 50
    assert flagged[intros].all()


def test_stop_words_are_lower_case_single_tokens() -> None:
    assert {"thank", "thanks", "question", "operator", "morning", "please"} <= BOILERPLATE_STOP_WORDS
    assert all(word == word.lower() and word.isalpha() for word in BOILERPLATE_STOP_WORDS)
    assert {"quarter", "million", "year", "continue"} <= EARNINGS_CALL_STOP_WORDS
    assert all(word == word.lower() and word.isalpha() for word in EARNINGS_CALL_STOP_WORDS)
    # Words that name a subject stay keywords.
    assert not {"revenue", "margin", "demand", "cash", "debt", "covid", "supply", "pricing"} & EARNINGS_CALL_STOP_WORDS
