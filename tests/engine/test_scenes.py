"""MemScene clustering: rare shared terms group a topic that comes back in other words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.consolidation import SceneClusterer, SceneConfig, salient_terms
from evermem_integrations.engine.models import MemCell, MemScene, Message
from evermem_integrations.engine.records import RecordStore, SQLiteRecordStore

START = datetime(2025, 10, 1, 9, tzinfo=UTC)
DIM = 32
# Unrelated chat, one MemCell each; they give the scope's words their rarity.
BACKGROUND = [
    "I ran the Salford 10K today, my legs are done lol",
    "the car is making a grinding noise when I brake, done with it lol",
    "we watched a film tonight, it was fine, done lol",
    "I made pasta with pesto for dinner, it was fine",
    "work was busy today, the dashboards are done finally",
    "my sister called, she is fine, busy with work",
]


@pytest.fixture
def records() -> Iterator[RecordStore]:
    store = SQLiteRecordStore(None)
    yield store
    store.close()


def cell(index: int, *lines: str, day: int | None = None, assistant: str | None = None) -> MemCell:
    moment = START + timedelta(days=index if day is None else day)
    messages = [
        Message(id=f"m{index}-{i}", sender="Jia", role="user", content=line, timestamp=moment + timedelta(minutes=i))
        for i, line in enumerate(lines)
    ]
    if assistant:
        messages.append(
            Message(id=f"m{index}-a", sender="assistant", role="assistant", content=assistant, timestamp=moment)
        )
    return MemCell(
        id=f"cell{index}",
        scope="s",
        title="small talk",
        episode=" ".join(lines),
        participants=["Jia", "assistant"],
        start_time=moment,
        end_time=moment + timedelta(minutes=len(lines)),
        messages=messages,
    )


class Clusterer(SceneClusterer):
    """Stores each MemCell first, as ingestion does, then places it."""

    def place(self, memcell: MemCell, vector: np.ndarray) -> MemScene:
        self.records.save_cell(memcell, [], [])
        return self.assign(memcell, vector)


def axis(index: int) -> np.ndarray:
    # Title vectors at a cosine of 0.25 to each other, where unrelated titles sit with the
    # bundled model: the embedding alone groups nothing, so the terms must.
    vector = np.full(DIM, 0.0, dtype=np.float32)
    vector[0] = 0.5
    vector[1 + index] = 0.75**0.5
    return vector


def test_a_topic_named_again_joins_its_scene_though_its_title_embedding_differs(records: RecordStore) -> None:
    clusterer = Clusterer(records)
    for index, line in enumerate(BACKGROUND):
        clusterer.place(cell(index, line), axis(index))
    first = clusterer.place(cell(10, "my tooth hurts, I booked Dr. Fraser at the Chorlton practice"), axis(10))
    again = clusterer.place(cell(11, "Dr. Fraser at the Chorlton practice found a cavity in my tooth"), axis(11))
    assert again.id == first.id and again.cell_ids == ["cell10", "cell11"]
    assert {"fraser", "chorlton", "tooth"} <= set(again.terms) and again.terms["fraser"] == 2


def test_without_the_term_bonus_the_same_cells_stay_apart(records: RecordStore) -> None:
    clusterer = Clusterer(records, SceneConfig(keyword_weight=0))
    for index, line in enumerate(BACKGROUND):
        clusterer.place(cell(index, line), axis(index))
    first = clusterer.place(cell(10, "my tooth hurts, I booked Dr. Fraser at the Chorlton practice"), axis(10))
    again = clusterer.place(cell(11, "Dr. Fraser at the Chorlton practice found a cavity in my tooth"), axis(11))
    assert again.id != first.id


def test_sharing_only_common_chat_words_does_not_join(records: RecordStore) -> None:
    clusterer = Clusterer(records)
    scenes = {clusterer.place(cell(index, line), axis(index)).id for index, line in enumerate(BACKGROUND)}
    assert len(scenes) == len(BACKGROUND)
    other = clusterer.place(cell(20, "the new flat has a tiny kitchen, moving is done lol"), axis(20))
    assert other.cell_ids == ["cell20"]


def test_a_large_scene_does_not_draw_in_a_cell_that_shares_one_word_with_one_member(records: RecordStore) -> None:
    clusterer = Clusterer(records)
    for index, line in enumerate(BACKGROUND):
        clusterer.place(cell(index, line), axis(index))
    trip = [
        "we booked the Spain trip, Valencia then Seville",
        "Spain trip: flights booked to Valencia, back from Seville",
        "the Spain trip itinerary: Valencia market, then the Seville cathedral",
        "Valencia and Seville trains are booked for the Spain trip",
    ]
    trip_scene = {clusterer.place(cell(10 + i, line), axis(10 + i)).id for i, line in enumerate(trip)}
    assert len(trip_scene) == 1
    market = clusterer.place(cell(20, "the farmers market near the flat sells great bread"), axis(20))
    assert market.id not in trip_scene


def test_a_scene_idle_longer_than_max_gap_is_not_joined(records: RecordStore) -> None:
    clusterer = Clusterer(records)
    for index, line in enumerate(BACKGROUND):
        clusterer.place(cell(index, line), axis(index))
    first = clusterer.place(cell(10, "Dr. Fraser at the Chorlton practice", day=10), axis(10))
    later = clusterer.place(cell(11, "Dr. Fraser at the Chorlton practice again", day=100), axis(11))
    assert later.id != first.id


def test_salient_terms_are_what_the_people_said_stemmed_without_their_names() -> None:
    terms = salient_terms(
        cell(
            1,
            "Jia here: Lucía moved my Spanish lessons",
            "two more lessons before the fillings",
            assistant="Here is a study plan with vocabulary drills and flashcards",
        )
    )
    assert "jia" not in terms and "vocabulari" not in terms and "flashcard" not in terms
    assert "lesson" in terms and "fill" in terms and "lessons" not in terms
    # a name weighs more than a common word said as often
    assert terms["spanish"] > terms["move"]


def _dentist_scene(mem: EverMem) -> MemScene:
    """Two of Jia's visits to the dentist, nine days apart: one scene of two MemCells."""
    for day, line in enumerate(
        [
            "my tooth hurts, I booked Dr. Fraser at the Chorlton dentist practice",
            "Dr. Fraser at the Chorlton dentist practice found a cavity, I need a filling",
        ]
    ):
        moment = START + timedelta(days=9 * day)
        mem.add([Message(sender="Jia", role="user", content=line, timestamp=moment)], user_id="jia")
        mem.flush(user_id="jia")
    [scene] = mem.get(user_id="jia", kind="scene")
    assert isinstance(scene, MemScene)
    return scene


def test_a_scene_that_loses_a_member_forgets_the_terms_only_it_held(tmp_path: Path) -> None:
    mem = EverMem(path=tmp_path)
    scene = _dentist_scene(mem)
    assert len(scene.cell_ids) == 2 and scene.terms["fraser"] == 2 and "caviti" in scene.terms
    mem.delete(memory_id=scene.cell_ids[1], user_id="jia")
    [scene] = mem.get(user_id="jia", kind="scene")
    assert scene.terms["fraser"] == 1 and "caviti" not in scene.terms
    mem.close()


def test_deleting_a_scene_leaves_its_memcells_without_one(tmp_path: Path) -> None:
    mem = EverMem(path=tmp_path)
    scene = _dentist_scene(mem)
    assert mem.delete(memory_id=scene.id, user_id="jia") == 1
    assert mem.get(user_id="jia", kind="scene") == []
    cells = mem.records.cells("user=jia")
    assert [c.id for c in cells] == scene.cell_ids and all(c.scene_id is None for c in cells)
    units = mem.records.units("user=jia", [f"{c.id}:episode" for c in cells])
    assert len(units) == 2 and all("scene_id" not in u.data for u in units.values())
    mem.close()
    with EverMem(path=tmp_path) as reopened:  # as stored, not as held
        assert all(c.scene_id is None for c in reopened.records.cells("user=jia"))
