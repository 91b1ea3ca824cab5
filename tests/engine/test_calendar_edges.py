"""Messages at the calendar's edges, and date expressions that point outside it, are stored."""

from __future__ import annotations

import pytest

from evermem_integrations import EverMem


@pytest.mark.parametrize(
    ("timestamp", "content"),
    [
        ("9999-12-31T23:00:00Z", "See you tomorrow! Next week I start a new job, and next month we move."),
        ("9999-12-30T10:00:00Z", "In two days I am flying to Lisbon; I am going to run a race next year."),
        ("0001-01-01T00:00:00Z", "Last week I adopted a cat, and yesterday I was tired."),
        ("0001-01-03T00:00:00Z", "Two weeks ago I moved to Denver. I am feeling sick today."),
        ("2024-05-01T00:00:00Z", "That castle was built 5000 years ago, and in 9000 years it will be dust."),
    ],
)
def test_dates_outside_the_calendar_do_not_break_a_scope(mem: EverMem, timestamp: str, content: str) -> None:
    mem.add([{"id": "edge", "sender": "Maya", "content": content, "timestamp": timestamp}], user_id="u")
    mem.flush(user_id="u")
    mem.add([{"id": "next", "sender": "Maya", "content": "I like green tea.", "timestamp": timestamp}], user_id="u")
    mem.flush(user_id="u")  # the scope keeps working
    stats = mem.stats(user_id="u")
    assert stats.messages == 2 and stats.buffered == 0 and stats.memcells >= 1
    assert mem.search("What did Maya say?", user_id="u").items
