"""The profile rules on ways of saying things the first rules missed (sentences of their own, not the bench's)."""

from __future__ import annotations

import re

import pytest

from evermem_integrations.engine.profile_rules import (
    ATTRIBUTE_QUESTIONS,
    asked_attributes,
    attribute_questions,
    read_profile,
)
from evermem_integrations.engine.text import SEGMENTED_WORDS, jieba_module


def readings(sentence: str) -> set[tuple[str, str]]:
    return {(r.attribute, r.value) for r in read_profile(sentence)}


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I studied history at the University of Toronto, long ago.", ("school", "University of Toronto")),
        ("I graduated from Kyoto University in 2019.", ("school", "Kyoto University")),
        ("so we adopted a calico named Miso!", ("pet", "cat Miso")),
        ("We got a beagle called Rufus.", ("pet", "dog Rufus")),
        ("I've decided to go vegan from Monday.", ("diet", "vegan")),
        ("I don't eat meat anymore.", ("diet", "vegetarian")),
        ("I stopped eating dairy last year.", ("diet", "no dairy")),
        ("I go to a climbing gym three times a week.", ("hobby", "climbing")),
        ("I go swimming every morning before work.", ("hobby", "swimming")),
        ("I started French lessons at the library.", ("learning", "French")),
        ("My teacher is José, he is very strict.", ("teacher", "José")),
        ("My tutor is Zoë.", ("teacher", "Zoë")),
        ("It's a 2019 Toyota Corolla, bought it used.", ("vehicle", "Toyota Corolla")),
        ("My new dentist is Dr. Singh.", ("dentist", "Dr. Singh")),
        ("new GP is Dr. Moreau, she seems nice", ("gp", "Dr. Moreau")),
        ("My Italian is now B1!", ("italian level", "B1")),
    ],
)
def test_a_way_of_saying_it_reaches_the_profile(sentence: str, expected: tuple[str, str]) -> None:
    assert expected in readings(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "The dentist is Dr. Singh.",  # whose dentist? not the speaker's
        "She goes swimming every morning.",
        "Is it a 2019 Toyota Corolla?",
        "I go to a meeting on Monday.",  # no -ing activity named
    ],
)
def test_what_is_not_about_the_speaker_stays_out(sentence: str) -> None:
    assert not {a for a, _ in readings(sentence)} & {"dentist", "hobby", "vehicle"}


@pytest.mark.parametrize(
    ("question", "attribute"),
    [
        ("Where does Ravi live now?", "residence"),
        ("What is Ravi's job these days?", "occupation"),
        ("Which company does Ravi work for?", "employer"),
        ("What's Ravi's favourite tea?", "favorite tea"),
        ("Ravi现在最喜欢喝什么茶？", "favorite tea"),
        ("Ravi现在住在哪里？", "residence"),
        ("Who is Ravi's dentist now?", "dentist"),
        ("What level is Ravi's Spanish?", "spanish level"),
        ("What does Ravi's husband do for work?", "partner occupation"),
    ],
)
def test_a_question_about_an_attribute_is_recognised(question: str, attribute: str) -> None:
    known = ["residence", "occupation", "employer", "favorite tea", "dentist", "spanish level", "partner occupation"]
    assert attribute in asked_attributes(question, known)


def test_a_question_about_something_else_asks_for_no_attribute() -> None:
    known = ["residence", "occupation", "employer", "favorite tea", "partner occupation", "pet"]
    assert asked_attributes("What did Ravi cook on Sunday?", known) == set()
    assert "partner occupation" not in asked_attributes("What is Ravi's job?", known)
    # words of an attribute used for something else
    known = ["family", "likes", "friend"]
    assert asked_attributes("When did Ravi start boot camp with his family?", known) == set()
    assert asked_attributes("What did Ravi say it was like at the waterfall?", known) == set()
    assert asked_attributes("Who is in Ravi's family?", known) == {"family"}
    assert asked_attributes("What does Ravi like to cook?", known) == {"likes"}


def test_the_chinese_question_words_of_profile_entries_are_segmented_as_jieba_segments_them() -> None:
    # The index reads them from SEGMENTED_WORDS instead of loading jieba: a word added to the questions must be
    # added there, as jieba segments it.
    questions = [attribute_questions(a) for a in [*ATTRIBUTE_QUESTIONS, "favorite tea"]]
    runs = {run for q in questions for run in re.findall(r"[\u4e00-\u9fff]+", q)}
    assert runs <= set(SEGMENTED_WORDS), sorted(runs - set(SEGMENTED_WORDS))
    jieba = jieba_module()
    assert {run: " ".join(jieba.cut_for_search(run)) for run in SEGMENTED_WORDS} == SEGMENTED_WORDS
