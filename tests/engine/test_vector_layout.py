"""Scopes share a fixed set of Chroma collections: isolation, spread, and stores of the layout before."""

import hashlib
import itertools
from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings

from evermem_integrations import EverMem
from evermem_integrations.engine.vectors import SHARDS, ChromaVectorIndex, chroma_client
from tests.engine.test_lifecycle import BOSTON, DENVER


def same_shard(index: ChromaVectorIndex, scope: str) -> str:
    """Another scope whose vectors land in the same collections as ``scope``'s."""
    wanted = index._name(scope, "items")
    return next(f"user=other-{n}" for n in itertools.count() if index._name(f"user=other-{n}", "items") == wanted)


def vectors(*rows: list[float]) -> np.ndarray:
    found = np.asarray(rows, dtype=np.float32)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def test_scopes_of_one_shard_never_see_each_other() -> None:
    index = ChromaVectorIndex(chroma_client(), prefix="iso")
    other = same_shard(index, "user=ana")
    near, far = vectors([1, 0, 0], [0, 1, 0])
    # The same ids in both scopes (an import keeps ids as given): neither overwrites the other.
    index.upsert(["f1", "f2"], np.stack([near, far]), "user=ana", ["fact", "fact"])
    index.upsert(["f1", "e1"], np.stack([far, near]), other, ["fact", "episode"])

    assert [i for i, _ in index.query(near, "user=ana", ["fact"], 10)] == ["f1", "f2"]
    assert [i for i, _ in index.query(near, other, ["fact"], 10)] == ["f1"]
    assert index.query(near, other, ["fact"], 10)[0][1] < 0.5  # its own f1, the far one
    assert index.query(near, "user=ana", ["episode"], 10) == []
    assert [i for i, _ in index.query(near, other, [], 10)] == ["e1", "f1"]

    index.delete("user=ana", ["f1"])
    assert [i for i, _ in index.query(near, other, ["fact"], 10)] == ["f1"]
    index.delete_scope(other)
    assert index.query(near, other, [], 10) == []
    assert [i for i, _ in index.query(near, "user=ana", [], 10)] == ["f2"]
    index.drop()


def test_many_scopes_share_a_fixed_number_of_collections(tmp_path: Path) -> None:
    with EverMem(path=tmp_path, exact_search_vectors=0) as mem:
        for n in range(60):
            mem.add([{"id": "m1", "sender": "Ana", "content": f"I keep {n} plants."}], user_id=f"u{n}")
        names = {c.name for c in mem.vectors.index.client.list_collections()}  # type: ignore[attr-defined]
        assert len(names) <= 2 * SHARDS
        assert "3 plants" in mem.search("How many plants?", user_id="u3").context
        assert "3 plants" not in mem.search("How many plants?", user_id="u4").context


def to_old_layout(path: Path) -> int:
    """Rewrite a store's vectors as the per-scope layout wrote them: one collection pair per scope."""
    client = chromadb.PersistentClient(path=str(path / "chroma"), settings=Settings(anonymized_telemetry=False))
    moved = 0
    for listed in client.list_collections():
        shard = client.get_collection(listed.name)
        rows = shard.get(include=["embeddings", "metadatas"])
        group = listed.name.split("-")[1]
        for i, vector, metadata in zip(rows["ids"], rows["embeddings"], rows["metadatas"], strict=True):
            scope = metadata.pop("scope")
            digest = hashlib.sha1(scope.encode(), usedforsecurity=False).hexdigest()[:20]
            old = client.get_or_create_collection(
                f"evermem-{digest}-{group}", configuration={"hnsw": {"space": "cosine"}}, metadata={"scope": scope}
            )
            old.upsert(ids=[i.split(":", 1)[1]], embeddings=[vector], metadatas=[metadata])
            moved += 1
        client.delete_collection(listed.name)
    chromadb.api.client.SharedSystemClient.clear_system_cache()  # as a new process would open it
    return moved


def test_a_store_of_per_scope_collections_stays_searchable(tmp_path: Path) -> None:
    with EverMem(path=tmp_path, exact_search_vectors=0) as mem:
        mem.add(BOSTON + DENVER, user_id="ana")
        mem.flush(user_id="ana")
        mem.add([{"id": "o1", "sender": "Bo", "content": "I live in Oslo."}], user_id="bo")
        before = mem.search("Where does Ana work?", user_id="ana", method="vector")
        assert before.items
    assert to_old_layout(tmp_path) > 10

    with EverMem(path=tmp_path) as reopened:
        names = sorted(c.name for c in reopened.vectors.index.client.list_collections())  # type: ignore[attr-defined]
        assert all(n.split("-")[1] in ("episodes", "items") for n in names)  # the old collections are gone
        after = reopened.search("Where does Ana work?", user_id="ana", method="vector")
        assert [i.id for i in after.items] == [i.id for i in before.items]
        assert [i.text for i in reopened.search("Oslo", user_id="bo", method="vector").items] == ["Bo: I live in Oslo."]
        assert "Oslo" not in reopened.search("Oslo", user_id="ana", method="vector").context


def test_a_small_scope_is_found_behind_a_crowded_shard() -> None:
    """The neighbours of another scope fill the unfiltered probe: the scope-filtered search answers."""
    index = ChromaVectorIndex(chroma_client(), prefix="crowd")
    other = same_shard(index, "user=ana")
    rng = np.random.default_rng(3)
    crowd = vectors(*(np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.01, 3) for _ in range(30)))
    index.upsert([f"c{n}" for n in range(30)], crowd, other, ["fact"] * 30)
    index.upsert(["mine"], vectors([0, 0, 1]), "user=ana", ["fact"])

    assert [i for i, _ in index.query(crowd[0], "user=ana", ["fact"], 5)] == ["mine"]
    assert len(index.query(crowd[0], other, ["fact"], 5)) == 5
    index.drop()


def test_a_scope_alone_in_its_shard_asks_for_the_limit_and_still_finds_its_own_once_joined() -> None:
    """Once a search comes back all of the scope's own, the next asks Chroma for the limit, not twice it;
    another scope arriving in the shard sends it back to the scope filter, which finds its own."""
    index = ChromaVectorIndex(chroma_client(), prefix="alone")
    rng = np.random.default_rng(5)
    mine = vectors(*(np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.2, 3) for _ in range(20)))
    index.upsert([f"m{n}" for n in range(20)], mine, "user=ana", ["fact"] * 20)
    collection = index._collection("user=ana", "items")
    asked: list[int] = []
    query = collection.query

    def spy(**kwargs: object) -> object:
        asked.append(kwargs["n_results"])  # type: ignore[arg-type]
        return query(**kwargs)

    collection.query = spy
    first = index.query(mine[0], "user=ana", ["fact"], 5)
    second = index.query(mine[0], "user=ana", ["fact"], 5)
    assert asked == [10, 5] and first == second
    other = same_shard(index, "user=ana")
    crowd = vectors(*(mine[0] + rng.normal(0, 0.01, 3) for _ in range(30)))
    index.upsert([f"c{n}" for n in range(30)], crowd, other, ["fact"] * 30)
    asked.clear()
    assert index.query(mine[0], "user=ana", ["fact"], 5) == first
    assert asked[0] == 5 and len(asked) == 2  # the probe is all the other's: the scope filter answers
    index.query(mine[0], "user=ana", ["fact"], 5)
    assert asked[2] == 10  # twice the limit again
    index.drop()
