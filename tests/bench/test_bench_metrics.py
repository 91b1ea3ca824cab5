"""The metrics on hand-made examples: what scores, and what must not."""

from __future__ import annotations

import math

import pytest

from evermem_integrations.bench.metrics import (
    answer_recall,
    evidence_recall,
    known_evidence,
    mean,
    percentile,
    std,
    turn_is_carried,
    word_set,
)

TURNS = {
    "D1:3": "I went to the LGBTQ support group yesterday and it was so powerful.",
    "D2:7": "We adopted a beagle named Biscuit from the shelter in Denver.",
    "D3:1": "Wow!",
}


def test_content_words_drop_stop_words_and_case() -> None:
    assert word_set("I went to THE support group, yesterday!") == {"went", "support", "group", "yesterday"}


def test_a_turn_quoted_and_claimed_counts() -> None:
    context = "[7 May 2023]\n- Caroline: I went to the LGBTQ support group yesterday and it was so powerful."
    assert evidence_recall(["D1:3"], TURNS, {"D1:3"}, context) == 1.0


def test_a_summary_that_merely_claims_its_sources_does_not_score() -> None:
    summary = "- Caroline had an emotional week."  # claims D1:3 and D2:7 but carries neither
    assert evidence_recall(["D1:3", "D2:7"], TURNS, {"D1:3", "D2:7"}, summary) == 0.0


def test_words_without_a_claim_do_not_score() -> None:
    context = "We adopted a beagle named Biscuit from the shelter in Denver."
    assert evidence_recall(["D2:7"], TURNS, {"D9:9"}, context) == 0.0


def test_half_of_the_content_words_is_the_threshold() -> None:
    # D2:7 content words: adopted beagle named biscuit shelter denver (6) -> 3 are enough, 2 are not
    assert turn_is_carried(TURNS["D2:7"], word_set("adopted beagle named"))
    assert not turn_is_carried(TURNS["D2:7"], word_set("adopted beagle"))
    assert evidence_recall(["D1:3", "D2:7"], TURNS, {"D1:3", "D2:7"}, "a beagle named Biscuit was adopted") == 0.5


def test_a_turn_without_content_words_needs_only_the_claim() -> None:
    assert evidence_recall(["D3:1"], TURNS, {"D3:1"}, "") == 1.0
    assert evidence_recall(["D3:1"], TURNS, set(), "Wow!") == 0.0


def test_no_gold_evidence_is_undefined_not_zero() -> None:
    assert evidence_recall([], TURNS, {"D1:3"}, "anything") is None


def test_duplicate_gold_ids_count_once() -> None:
    assert evidence_recall(["D2:7", "D2:7"], TURNS, {"D2:7"}, TURNS["D2:7"]) == 1.0


def test_answer_recall_is_the_share_of_answer_content_words() -> None:
    assert answer_recall("7 May 2023", "Caroline went on 7 May 2023.") == 1.0
    assert answer_recall("7 May 2023", "Caroline went in May.") == pytest.approx(1 / 3)
    assert answer_recall("the beagle Biscuit", "a dog") == 0.0


def test_answer_recall_without_content_words_is_undefined() -> None:
    assert answer_recall("Yes", "yes indeed") is None
    assert answer_recall(None, "context") is None


def test_known_evidence_separates_malformed_ids() -> None:
    assert known_evidence(["D1:3", "D:11:26", "D30:1"], {"D1:3", "D2:7"}) == (["D1:3"], ["D:11:26", "D30:1"])


def test_summaries() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([5.0], 95) == 5.0
    assert math.isnan(percentile([], 50))
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None]) is None
    assert std([0.75, 1.0, 0.75]) == pytest.approx(0.11785, abs=1e-5)
    assert std([0.5]) == 0.0
