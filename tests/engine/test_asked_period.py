"""A question that names a past period ("last month", "two weeks ago") favours that period's memories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.recollection import RecollectionConfig, asked_period, without_past_periods

NOW = datetime(2023, 5, 30, 21, 0, tzinfo=UTC)
CLEANINGS = [  # the same chore in many months; only one of them is "last month"
    (datetime(2022, 11, 12, tzinfo=UTC), "I cleaned my white shoes with a toothbrush and baking soda."),
    (datetime(2023, 1, 8, tzinfo=UTC), "I cleaned my hiking boots after the muddy trail."),
    (datetime(2023, 2, 19, tzinfo=UTC), "I cleaned my leather loafers with saddle soap."),
    (datetime(2023, 4, 16, tzinfo=UTC), "I cleaned my blue Asics runners."),
    (datetime(2023, 5, 27, tzinfo=UTC), "I cleaned my suede boots with a brush."),
]


def _engine(**config: bool) -> EverMem:
    mem = EverMem(path=None, recollection=RecollectionConfig(**config))
    for n, (day, text) in enumerate(CLEANINGS):
        mem.add(
            [
                {"sender": "me", "role": "user", "content": text, "timestamp": day + timedelta(hours=10)},
                {
                    "sender": "assistant",
                    "role": "assistant",
                    "content": "Nice!",
                    "timestamp": day + timedelta(hours=10, minutes=1),
                },
                {
                    "sender": "me",
                    "role": "user",
                    "content": f"Also, my plant number {n} got new leaves.",
                    "timestamp": day + timedelta(hours=11),
                },
            ],
            user_id="u",
        )
        mem.flush(user_id="u")
    return mem


def _first_shoe_line(mem: EverMem, question: str) -> str:
    result = mem.search(question, user_id="u", current_time=NOW, kinds=["fact", "message"])
    return next(item.text for item in result.items if "cleaned" in item.text)


def test_the_named_period_comes_first() -> None:
    with _engine() as mem:
        assert "Asics" in _first_shoe_line(mem, "Which pair of shoes did I clean last month?")
        assert "loafers" in _first_shoe_line(mem, "What did I clean in February?")
        assert "suede" in _first_shoe_line(mem, "Which shoes did I clean last weekend?")


def test_without_the_period_prior_the_month_is_not_found_first() -> None:
    # The control: the same store with the prior off ranks by words alone (and so bites the test above).
    with _engine(asked_period=False) as mem:
        assert "Asics" not in _first_shoe_line(mem, "Which pair of shoes did I clean last month?")


def test_only_past_periods_narrow() -> None:
    assert asked_period("What shall I clean next week?", NOW) is None
    assert asked_period("Which shoes are the comfiest?", NOW) is None
    assert asked_period("What did I do two weeks ago?", NOW) is not None


def test_within_the_period_the_rest_of_the_question_is_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a period its own words tell nothing apart, and memories say "two weeks ago" too (its date written out)."""
    with _engine() as mem:
        asked: list[str] = []
        terms = mem.records.lexical_terms
        monkeypatch.setattr(
            mem.records, "lexical_terms", lambda query, scope: asked.append(query) or terms(query, scope)
        )
        assert "Asics" in _first_shoe_line(mem, "Which pair of shoes did I clean last month?")
    assert "Which pair of shoes did I clean last month?" in asked  # over all time: the whole question
    assert "Which pair of shoes did I clean ?" in asked  # within last month: the rest of it


def test_only_the_words_of_past_periods_are_left_out() -> None:
    assert without_past_periods("Which exhibition did I see two weeks ago?", NOW) == "Which exhibition did I see ?"
    assert without_past_periods("What did I clean in February or last weekend?", NOW) == "What did I clean in or ?"
    assert without_past_periods("What shall I clean next week?", NOW) == "What shall I clean next week?"
