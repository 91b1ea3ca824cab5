"""A message's units are dated sentence by sentence, as its facts are, in every piece and on every write path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.extraction import OfflineExtractor, message_date_notes
from evermem_integrations.engine.ingest import message_units
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.timeparse import with_notes

SAID_AT = datetime(2023, 5, 20, 14, tzinfo=UTC)
# Read as one text, the asking around the middle sentence made "late March" the coming one.
VOLUNTEERING = (
    "I'm trying to find some local volunteer opportunities. I recently attended a charity concert in late "
    "March, which was really inspiring, and I want to do more to give back to the community. Do you know "
    "of any upcoming events or organizations that need help?"
)


@pytest.fixture
def mem() -> EverMem:
    memory = EverMem(path=None)
    yield memory
    memory.close()


def _texts(mem: EverMem, kind: str) -> list[str]:
    ids = [unit_id for unit_id, _ in mem.records.unit_ids_of_messages("user=ana", ["v1"], [kind])]
    return [unit.text for unit in mem.records.units("user=ana", ids).values()]


def test_a_message_is_dated_as_its_facts_are_buffered_and_in_a_memcell(mem: EverMem) -> None:
    mem.add(
        [{"id": "v1", "sender": "Ana", "role": "user", "content": VOLUNTEERING, "timestamp": SAID_AT}], user_id="ana"
    )
    assert [t for t in _texts(mem, "raw") if "(March 2023)" in t]  # buffered

    mem.flush(user_id="ana")
    (said,) = _texts(mem, "message")
    assert "in late March (March 2023), which" in said
    concert = [f.text for f in mem.records.facts("user=ana") if "charity concert" in f.text]
    assert concert and "(March 2023)" in concert[0]


def test_every_piece_of_a_long_message_carries_the_dates_of_its_sentences() -> None:
    lines = [f"On day {i} of the audit I checked shelf {i} and yesterday I counted {i * 3} boxes." for i in range(60)]
    message = Message(id="m1", sender="Ana", content="\n".join(lines), timestamp=SAID_AT)
    units = message_units("user=ana", message, kind="message", cell_id=None)
    assert len(units) > 1

    for unit in units:
        assert unit.text.count("yesterday (19 May 2023)") == unit.text.count("yesterday") > 0
    whole = with_notes(message.content, message_date_notes(message.content, SAID_AT))
    assert " ".join(u.text.removeprefix("Ana: ") for u in units).split() == whole.split()


def test_the_extraction_hands_over_the_dates_it_found() -> None:
    message = Message(id="v1", sender="Ana", role="user", content=VOLUNTEERING, timestamp=SAID_AT)
    extraction = OfflineExtractor().extract([message], ["Ana"])
    assert extraction.date_notes == {"v1": message_date_notes(VOLUNTEERING, SAID_AT)}
    given = message_units("user=ana", message, kind="message", cell_id=None, notes=extraction.date_notes["v1"])
    assert given == message_units("user=ana", message, kind="message", cell_id=None)
