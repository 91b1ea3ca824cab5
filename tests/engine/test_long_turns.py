"""Long turns (a pasted document, a log) are stored whole and searched in pieces that point back at them.

Every message of a person, short or long, and each long answer of the assistant, is also
indexed as said (with its dates made absolute), so a question that several of its sentences
answer together finds the whole turn, not only one sentence of it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.ingest import ANSWER_CHARS
from evermem_integrations.engine.models import MAX_MESSAGE_CHARS
from evermem_integrations.engine.recollection import WHOLE_ANSWER_HITS
from evermem_integrations.engine.text import pieces
from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.errors import InvalidMessageError

START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
NEEDLE = "The coolant pump at Kestrel Station was replaced by Odalys Brennan's crew."


def report(sections: int) -> str:
    """A pasted maintenance report of varied lines, with one line about Kestrel Station deep inside."""
    lines = [
        f"Section {i}: the quarterly figures for region {i % 97} were {i * 7} units, reviewed by team {i % 13}."
        for i in range(sections)
    ]
    lines.insert(sections * 3 // 4, NEEDLE)
    return "\n".join(lines)


@pytest.fixture
def mem() -> EverMem:
    memory = EverMem(path=None)
    yield memory
    memory.close()


def long_chat() -> list[dict]:
    document = report(3_500)  # about 330,000 characters
    return [
        {
            "id": "u1",
            "sender": "Mara",
            "role": "user",
            "content": "Here is the plant report:\n" + document,
            "timestamp": START,
        },
        {
            "id": "a1",
            "sender": "assistant",
            "role": "assistant",
            "content": "Thanks, I have read the report.",
            "timestamp": START + timedelta(minutes=1),
        },
    ]


def test_pieces_follow_sentences_and_lines_and_cover_the_text() -> None:
    text = report(400)
    parts = pieces(text, 1_000)
    assert len(parts) > 30
    assert all(len(p.text) <= 1_000 for p in parts)
    # every piece is a span of the text, in order, and together they hold all of it
    assert all(text[p.start : p.end] == p.text for p in parts)
    assert " ".join(p.text for p in parts).split() == text.split()
    assert [p.start for p in parts] == sorted(p.start for p in parts)
    # a piece ends at a line or sentence end, never inside a word, when one is in reach
    assert all(text[p.end - 1] in ".\n" or p.end == len(text) for p in parts)
    # a line longer than a piece (a minified file, a log line) is cut at spaces
    assert all(len(p.text) <= 100 for p in pieces("word " * 1_000, 100))
    assert pieces("short", 1_000)[0].text == "short"


def test_a_pasted_document_is_stored_whole_and_found_by_a_line_deep_inside(mem: EverMem) -> None:
    chat = long_chat()
    assert len(chat[0]["content"]) > 300_000
    mem.add(chat, user_id="mara")
    for when in ("buffered", "in a MemCell"):
        result = mem.search("Who replaced the coolant pump at Kestrel Station?", user_id="mara", token_budget=600)
        assert result.context_tokens <= 600
        hits = [i for i in result.items if NEEDLE in i.text]
        assert hits, when
        hit = hits[0]
        assert hit.source_message_ids == ["u1"]
        assert hit.kind in ("raw", "message", "fact")
        assert count_tokens(hit.text) < 600, "a piece, never the whole document"
        mem.flush(user_id="mara")
    (stored,) = [m for m in mem.get(user_id="mara", kind="message", limit=10) if m.id == "u1"]
    assert stored.content == chat[0]["content"]  # stored whole, not cut
    message_hits = [i for i in result.items if i.kind == "message" and NEEDLE in i.text]
    assert message_hits and message_hits[0].metadata["piece"].endswith(f" of {message_hits[0].metadata['pieces']}")


def test_deleting_the_long_message_leaves_no_piece(mem: EverMem) -> None:
    mem.add(long_chat(), user_id="mara")
    mem.flush(user_id="mara")
    mem.delete("u1", user_id="mara")
    rows = mem.records._rows("SELECT text FROM units WHERE scope = (SELECT id FROM scopes WHERE key = 'user=mara')")
    assert not [r for r in rows if "Kestrel" in r["text"]]
    result = mem.search("Kestrel Station coolant pump", user_id="mara")
    assert "Kestrel" not in result.context


def test_the_size_limit_is_far_above_what_chats_hold(mem: EverMem) -> None:
    assert MAX_MESSAGE_CHARS >= 2_000_000
    with pytest.raises(InvalidMessageError, match="split it"):
        mem.add([{"sender": "Mara", "content": "x " * MAX_MESSAGE_CHARS, "timestamp": START}], user_id="mara")
    assert mem.get(user_id="mara", kind="message") == []


def test_a_message_and_its_facts_are_not_both_in_the_context(mem: EverMem) -> None:
    mem.add(
        [
            {
                "id": "m1",
                "sender": "Ana",
                "content": "I adopted a beagle named Biscuit yesterday. He loves the park.",
                "timestamp": START,
            },
            {
                "id": "m2",
                "sender": "Ben",
                "content": "Biscuit is a lovely name for a beagle!",
                "timestamp": START + timedelta(minutes=1),
            },
        ],
        user_id="ana",
    )
    mem.flush(user_id="ana")
    result = mem.search("What is the name of Ana's beagle?", user_id="ana", token_budget=2_000)
    lines = [line for line in result.context.splitlines() if "adopted a beagle" in line]
    assert len(lines) == 1, result.context
    assert "(9 March 2025)" in lines[0]  # the message is shown with its dates made absolute


def test_a_long_answer_of_the_assistant_is_indexed_as_said_a_short_reply_by_its_facts(mem: EverMem) -> None:
    answer = (
        "Here are three studies you could read. In the journal Music and Medicine, 38 subjects listened "
        "to binaural beats for 30 minutes daily for three weeks. Their anxiety fell, and so did their "
        "stress. A second study, in Alternative Therapies, followed 15 subjects for four weeks and found "
        "improvements in mood. A third one found no effect on sleep. Each of them was small, so read "
        "them as hints rather than proof, and talk to a doctor before you rely on any of them for your "
        "anxiety or for your sleep at night."
    )
    assert len(answer) >= ANSWER_CHARS
    mem.add(
        [
            {"id": "q", "sender": "user", "role": "user", "content": "Which studies tested binaural beats?"},
            {"id": "long", "sender": "assistant", "role": "assistant", "content": answer},
            {"id": "t", "sender": "user", "role": "user", "content": "Thanks!"},
            {"id": "short", "sender": "assistant", "role": "assistant", "content": "You're welcome. Sleep well!"},
        ],
        user_id="mara",
    )
    mem.flush(user_id="mara")
    messages = mem.search("binaural beats studies subjects welcome", user_id="mara", kinds=["message"]).items
    assert {i.source_message_ids[0] for i in messages} == {"q", "long", "t"}
    whole = next(i for i in messages if i.source_message_ids == ["long"])
    assert whole.text == f"assistant: {answer}"
    facts = mem.search("welcome sleep", user_id="mara", kinds=["fact"]).items
    assert any(i.source_message_ids == ["short"] for i in facts)


def test_a_short_answer_of_the_assistant_comes_whole_a_persons_message_by_its_best_fact(mem: EverMem) -> None:
    # Seen on LongMemEval: "what's the phone number of the tourism board you gave me?" found the
    # line "67346 Speyer" of the answer and left its "Phone: ..." line, two lines below, far down.
    details = (
        "Certainly! You can contact the tourism board of Speyer using the following details:\n\n"
        "Speyer Tourismus Marketing GmbH\nMaximilianstraße 13\n67346 Speyer\n"
        "Phone: +49 (0) 62 32 / 14 23 - 0\nEmail: info@speyer.de"
    )
    assert len(details) < ANSWER_CHARS  # held only as facts, one a line
    story = (
        "I visited the cathedral in Speyer last year. The crypt was cold and quiet. "
        "We had pretzels by the river afterwards and watched the barges pass by."
    )
    mem.add(
        [
            {"id": "ask", "sender": "user", "role": "user", "content": "Who runs tourism in Speyer?"},
            {"id": "details", "sender": "assistant", "role": "assistant", "content": details},
            {"id": "story", "sender": "user", "role": "user", "content": story},
        ],
        user_id="ines",
    )
    mem.flush(user_id="ines")
    items = mem.search("Maximilianstraße", user_id="ines", kinds=["fact"]).items
    hit = items[0]
    assert hit.text == "assistant: Maximilianstraße 13"
    after = [i for i in items if i.source_message_ids == ["details"]]
    assert len(after) >= 5
    assert [i.source_message_ids for i in items[: len(after)]] == [["details"]] * len(after)  # whole, first
    assert any("Phone: +49" in i.text for i in after)
    assert all(i.score >= 0.99 * hit.score for i in after)

    facts = mem.search("crypt", user_id="ines", kinds=["fact"]).items
    crypt = next(i for i in facts if "crypt" in i.text)
    siblings = [i for i in facts if i.source_message_ids == ["story"] and i.id != crypt.id]
    assert siblings  # a person's message is indexed as said: its other facts follow at a share
    assert all(i.score <= 0.5 * crypt.score for i in siblings)


def test_a_short_answer_behind_the_best_hits_keeps_the_share(mem: EverMem) -> None:
    # Whole answers cost lines: only the few best hits bring theirs; a weak hit's siblings stay low.
    mem.add(
        [
            *(
                {
                    "id": f"k{n}",
                    "sender": "user",
                    "role": "user",
                    "content": f"The kayak trip number {n} was on the lake.",
                }
                for n in range(WHOLE_ANSWER_HITS)
            ),
            {"id": "q", "sender": "user", "role": "user", "content": "Which paddles should I buy?"},
            {
                "id": "a",
                "sender": "assistant",
                "role": "assistant",
                "content": "Options for a touring kayak:\nWerner Camano paddle\nAqua-Bound Sting Ray\n"
                "Bending Branches Whisper",
            },
        ],
        user_id="ola",
    )
    mem.flush(user_id="ola")
    items = mem.search("kayak trip lake", user_id="ola", kinds=["fact"]).items
    hit = next(i for i in items if i.source_message_ids == ["a"])
    assert items.index(hit) >= WHOLE_ANSWER_HITS  # behind the trips
    siblings = [i for i in items if i.source_message_ids == ["a"] and i.id != hit.id]
    assert siblings
    assert all(i.score <= 0.5 * hit.score for i in siblings)
