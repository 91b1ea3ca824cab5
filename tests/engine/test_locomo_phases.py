"""Each phase on real data: the first LoCoMo conversation of the dev subset (conv-26)."""

import re
from collections import Counter

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation

SCOPE = {"group_id": "conv-26"}


def test_phase1_cells_partition_the_conversation_within_sessions(
    locomo_mem: EverMem, locomo: list[LocomoConversation]
) -> None:
    conversation = locomo[0]
    cells = locomo_mem.get(**SCOPE, kind="episode", limit=1000)
    covered = Counter(m for cell in cells for m in cell.source_message_ids)
    assert set(covered) == {m.id for m in conversation.messages}
    assert max(covered.values()) == 1  # every message in exactly one MemCell
    session_of = {m.id: m.metadata["session"] for m in conversation.messages}
    for cell in cells:
        assert len({session_of[m] for m in cell.source_message_ids}) == 1  # a new day always cuts
        assert set(cell.participants) <= {"Caroline", "Melanie"}
        assert cell.start_time <= cell.end_time
        assert cell.title and cell.episode
    assert len(cells) >= len(conversation.session_dates)


def test_phase1_facts_are_attributed_dated_and_sourced(locomo_mem: EverMem, locomo: list[LocomoConversation]) -> None:
    text_of = {m.id: m.content for m in locomo[0].messages}
    facts = locomo_mem.get(**SCOPE, kind="fact", limit=100_000)
    assert len(facts) > len(text_of)  # sentence-level facts
    support_group = next(f for f in facts if f.source_message_ids == ["D1:3"])
    assert support_group.text.startswith("Caroline: I went to a LGBTQ support group yesterday (7 May 2023)")
    for fact in facts:
        (source,) = fact.source_message_ids
        # the speaker's own words, named by the speaker; only absolute dates are added
        assert fact.text.startswith(f"{fact.subject}: "), fact.text
        said = _DATE_NOTE.sub("", fact.text.removeprefix(f"{fact.subject}: "))
        assert said in f"{text_of[source]} [shared an image: {_caption(locomo, source)}]", fact.text


_DATE_NOTE = re.compile(r" \((?:[^()]*\d{4}|the [^()]*)\)")


def _caption(locomo: list[LocomoConversation], message_id: str) -> str:
    message = next(m for m in locomo[0].messages if m.id == message_id)
    return str(message.metadata.get("image_caption", ""))


def test_phase2_scenes_and_profiles(locomo_mem: EverMem) -> None:
    cells = locomo_mem.get(**SCOPE, kind="episode", limit=1000)
    scenes = locomo_mem.get(**SCOPE, kind="scene", limit=1000)
    members = Counter(c for scene in scenes for c in scene.cell_ids)
    assert set(members) == {c.id for c in cells} and max(members.values()) == 1
    assert 1 < len(scenes) < len(cells)  # themes group episodes without collapsing them
    assert all(cell.scene_id in {s.id for s in scenes} for cell in cells)
    profiles = {p.subject: p for p in locomo_mem.get_profile(**SCOPE, current_time="2023-10-25")}
    assert set(profiles) == {"Caroline", "Melanie"}
    assert any(item.evidence for p in profiles.values() for item in p.traits)


def test_phase3_hybrid_recalls_evidence_for_single_hop_questions(
    locomo_mem: EverMem, locomo: list[LocomoConversation]
) -> None:
    conversation = locomo[0]
    questions = [q for q in conversation.questions if q.category == 4][:40]
    found = total = 0
    for question in questions:
        result = locomo_mem.search(question.question, **SCOPE, token_budget=2000, current_time="2023-10-25")
        sources = {s for item in result.items for s in item.source_message_ids}
        found += len(set(question.evidence) & sources)
        total += len(question.evidence)
        assert result.context_tokens <= 2000
    assert found / total >= 0.75  # measured ~0.9 on this slice; a regression guard, not a benchmark
