"""Phase II: semantic consolidation.

Three jobs run after each new MemCell:

* :class:`SceneClusterer` groups MemCells online into MemScenes, as in the EverMemOS paper: join
  the recently active scene that scores best, if it scores enough, else open a new scene. The
  score is the cosine to the scene's centroid (a running mean of title embeddings) plus a
  bonus for the rare terms the MemCell shares with the scene's members (names, places).
* :func:`supersede_facts` marks a keyed fact ("residence = Boston") superseded when a later
  one gives the same attribute another value; the old fact is kept as history.
* :class:`ProfileManager` applies profile statements as add / update / supersede operations,
  keeps stable traits apart from temporary states, and compacts the profile past a limit.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import Stemmer
from pydantic import BaseModel, Field

from evermem_integrations.engine.extraction import _TITLE_FILLER, ProfileDraft, message_text
from evermem_integrations.engine.models import Fact, MemCell, MemScene, ProfileItem, stable_id
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.text import content_words, has_cjk, words
from evermem_integrations.engine.timeparse import format_day, shift


class SceneConfig(BaseModel):
    """MemScene clustering settings. The threshold depends on the embedding model."""

    similarity_threshold: float = Field(
        default=0.45,
        description="score needed to join a scene: the cosine between title-keyphrase embeddings (with the "
        "bundled model unrelated titles sit at 0.1-0.3, titles sharing a theme at 0.5 and above) plus the "
        "term bonus",
    )
    keyword_weight: float = Field(
        default=0.6,
        ge=0,
        description="bonus for the share of the MemCell's salient terms (weighted by their rarity among the "
        "scope's active scenes) that the scene's members hold: a dentist, a teacher's name or a destination "
        "named again is the surest sign of a recurring topic",
    )
    max_gap: timedelta = Field(
        default=timedelta(days=45),
        description="a scene idle longer than this is not joined (recurring topics come back weeks apart)",
    )
    term_saturation: float = Field(
        default=3.0,
        gt=0,
        description="shared-term evidence at which the bonus is half its weight (the evidence is the rarity-"
        "weighted sum of shared terms)",
    )


class SceneClusterer:
    """Online clustering of MemCells into MemScenes: title embeddings plus rare shared terms."""

    def __init__(self, records: RecordStore, config: SceneConfig | None = None) -> None:
        self.records = records
        self.config = config or SceneConfig()

    def assign(self, cell: MemCell, vector: np.ndarray) -> MemScene:
        """Put ``cell`` into the best scene (or a new one); persists both."""
        # Only scenes active within max_gap can be joined; the index on last_ts finds them.
        ids, centroids = self.records.scene_centroids(cell.scope, shift(cell.start_time, -self.config.max_gap))
        terms = salient_terms(cell)
        best = self._best_scene(cell, vector, terms, ids, centroids) if ids else None
        if best is not None:
            scene, centroid = best
            size = len(scene.cell_ids)
            centroid = (centroid * size + vector) / (size + 1)
            keywords = _merge_keywords(scene.keywords, cell.title)
            scene = scene.model_copy(
                update={
                    "cell_ids": [*scene.cell_ids, cell.id],
                    "end_time": max(scene.end_time, cell.end_time),
                    "start_time": min(scene.start_time, cell.start_time),
                    "keywords": keywords,
                    "title": ", ".join(keywords[:3]),
                    "terms": merge_terms(scene.terms, terms),
                }
            )
        else:
            keywords = _merge_keywords([], cell.title)
            scene = MemScene(
                id=stable_id(cell.scope, cell.id, prefix="scene_"),
                scope=cell.scope,
                title=", ".join(keywords[:3]) or cell.title,
                keywords=keywords,
                cell_ids=[cell.id],
                start_time=cell.start_time,
                end_time=cell.end_time,
                terms=merge_terms({}, terms),
            )
            centroid = vector
        self.records.save_scene(scene, centroid)
        self.records.set_cell_scene(cell.scope, cell.id, scene.id)
        return scene

    def _best_scene(
        self,
        cell: MemCell,
        vector: np.ndarray,
        terms: Mapping[str, float],
        ids: Sequence[str],
        centroids: np.ndarray,
    ) -> tuple[MemScene, np.ndarray] | None:
        """The scene ``cell`` joins, if one scores at the threshold: embedding cosine plus shared rare terms."""
        similarities = centroids @ vector / (np.linalg.norm(centroids, axis=1) + 1e-9)
        # Every active scene is scored: a recurring topic often comes back in other words, so a low
        # cosine must not hide the scene that shares its names.
        scenes = [self.records.scene(cell.scope, scene_id) for scene_id in ids]
        rarity = _rarity(terms, scenes)
        best: tuple[float, int] | None = None
        for row, scene in enumerate(scenes):
            size = len(scene.cell_ids)
            # A term counts by the share of the scene's members that hold it, so a large scene
            # does not draw in every MemCell that shares one word with one of its members.
            evidence = sum(
                weight * rarity[term] * scene.terms[term] / size
                for term, weight in terms.items()
                if term in scene.terms
            )
            # Saturating: two rare names in common are near-certain, more add little.
            score = float(similarities[row]) + self.config.keyword_weight * evidence / (
                evidence + self.config.term_saturation
            )
            if score >= self.config.similarity_threshold and (best is None or score > best[0]):
                best = (score, row)
        return None if best is None else (scenes[best[1]], centroids[best[1]])


_FEW_CELLS = 8


def _rarity(terms: Mapping[str, float], scenes: Sequence[MemScene]) -> dict[str, float]:
    """BM25's IDF of each term over the MemCells of the scope's active scenes and this one.

    Chat words ("done", "lol", "tomorrow") turn up in many MemCells of a conversation and
    weigh little; a dentist's or a teacher's name turns up only where that topic does. A scope's
    first MemCells are counted as :data:`_FEW_CELLS`, so a name shared there is worth something.
    """
    cells = max(_FEW_CELLS, 1 + sum(len(s.cell_ids) for s in scenes))
    held = Counter[str]()
    for scene in scenes:
        held.update({t: n for t, n in scene.terms.items() if t in terms})
    return {t: max(0.0, math.log((cells - held[t] - 0.5) / (held[t] + 1.5))) for t in terms}


# A capitalised word names something wherever it stands: chat rarely capitalises anything else
# but a sentence's first word, and filler ("Thanks", "Great") is left out anyway.
_CAPITALISED = re.compile(r"\b[A-Z][^\W\d_]+")


def salient_terms(cell: MemCell) -> dict[str, float]:
    """The stemmed content words of what the people said in ``cell``, with their weight.

    Names of things (capitalised: "Dr. Fraser", "Valencia") and the title's
    keyphrase words weigh more; the participants' own names, filler and the assistant's
    replies (which echo and expand on every topic) are left out.
    """
    said = [m for m in cell.messages if m.role != "assistant"] or cell.messages
    names = {w for p in cell.participants for w in words(p)}
    weights: defaultdict[str, float] = defaultdict(float)
    for message in said:
        text = message_text(message)
        named = {w.lower() for w in _CAPITALISED.findall(text)}
        for word in content_words(text):
            if word in names or word in _TITLE_FILLER or word.isdigit() or len(word) < (2 if has_cjk(word) else 3):
                continue
            weights[_stem(word)] += 1.0 if word in named else 0.25
    title = {_stem(w) for w in content_words(cell.title)}
    # Repeats add little: a word said five times is a topic, not five times the evidence.
    return {term: math.log1p(weight) * (2.0 if term in title else 1.0) for term, weight in weights.items()}


SCENE_TERMS = 64
"""Salient terms a scene keeps (those most members hold): enough for its topics, small to decode."""


def merge_terms(existing: Mapping[str, int], terms: Mapping[str, float]) -> dict[str, int]:
    """A scene's terms with one more member holding ``terms``, the :data:`SCENE_TERMS` most held kept."""
    counts = Counter(existing)
    # Heaviest first, so that among terms held equally often the cut keeps the weightier (and
    # the same ones in every run).
    counts.update(sorted(terms, key=lambda term: -terms[term]))
    return dict(counts.most_common(SCENE_TERMS))


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def _stem(word: str) -> str:
    # "fillings" and "filling", "lessons" and "lesson" are one term; Chinese words are whole already.
    return word if has_cjk(word) else str(_stemmer().stemWord(word))


def _merge_keywords(existing: Sequence[str], title: str) -> list[str]:
    # Keywords keep their first-seen order weighted by how many members share them.
    counts = Counter({word: len(existing) - rank for rank, word in enumerate(existing)})
    for word in (w.strip() for w in title.split(",")):
        if word and word != "small talk":
            counts[word] += 1
    return [word for word, _ in counts.most_common(8)]


def supersede_facts(records: RecordStore, scope: str, new_facts: Sequence[Fact]) -> list[Fact]:
    """Mark earlier keyed facts superseded by ``new_facts``; returns the facts changed."""
    changed: list[Fact] = []
    for fact in sorted((f for f in new_facts if f.attribute), key=lambda f: f.timestamp):
        assert fact.attribute is not None
        for old in records.current_keyed_facts(scope, fact.subject, fact.attribute):
            if old.id == fact.id or old.timestamp > fact.timestamp:
                continue
            if _same_value(old.value, fact.value):
                continue
            changed.append(old.model_copy(update={"superseded_by": fact.id, "valid_until": fact.timestamp}))
    if changed:
        records.update_facts(scope, changed)
    return changed


def _same_value(left: str | None, right: str | None) -> bool:
    return (left or "").strip().lower() == (right or "").strip().lower()


class ProfileConfig(BaseModel):
    """Profile upkeep settings."""

    max_items_per_subject: int = Field(default=60, description="compaction limit on current entries per person")
    max_history_per_attribute: int = Field(default=5, description="superseded entries kept per attribute")


class ProfileManager:
    """Applies profile statements with add / update / supersede semantics."""

    def __init__(self, records: RecordStore, config: ProfileConfig | None = None) -> None:
        self.records = records
        self.config = config or ProfileConfig()

    def apply(self, scope: str, drafts: Sequence[ProfileDraft]) -> tuple[list[ProfileItem], list[ProfileItem]]:
        """Apply ``drafts`` in time order; returns ``(written, retired)`` entries."""
        written: dict[str, ProfileItem] = {}
        retired: dict[str, ProfileItem] = {}
        for draft in sorted(drafts, key=lambda d: d.timestamp):
            current = [
                item
                for item in self.records.profile_items(scope, draft.subject, current_only=True)
                if item.attribute == draft.attribute
            ]
            current = [written.get(item.id, item) for item in current]
            same = next((item for item in current if _same_value(item.value, draft.value)), None)
            if same is not None:  # update: more evidence for what we already know
                evidence = list(dict.fromkeys([*same.evidence, *draft.evidence]))
                changes: dict[str, Any] = {"evidence": evidence, "valid_until": draft.valid_until or same.valid_until}
                if same.origin == "metadata" and draft.origin == "message":
                    # Said in the chat, a seeded value holds from when it was said, not from when it was seeded.
                    changes |= {"origin": "message", "valid_from": draft.timestamp}
                updated = same.model_copy(update=changes)
                written[updated.id] = updated
                self.records.save_profile_items([updated])
                continue
            if not draft.multi_valued:  # supersede: a later value replaces the current one
                for item in current:
                    # A seed from the metadata is background: anything said in the chat replaces it.
                    said_later = item.valid_from <= draft.timestamp or (
                        item.origin == "metadata" and draft.origin == "message"
                    )
                    if said_later:
                        old = item.model_copy(update={"status": "superseded", "valid_until": draft.timestamp})
                        retired[old.id] = old
                        written.pop(old.id, None)
                        self.records.save_profile_items([old])
            item = ProfileItem(
                id=stable_id(scope, draft.subject, draft.attribute, draft.value.lower(), prefix="prof_"),
                scope=scope,
                subject=draft.subject,
                category=draft.category,
                attribute=draft.attribute,
                value=draft.value,
                text=draft.text,
                evidence=draft.evidence,
                valid_from=draft.timestamp,
                valid_until=draft.valid_until,
                origin=draft.origin,
            )
            written[item.id] = item
            self.records.save_profile_items([item])
        for subject in {d.subject for d in drafts}:
            retired.update({i.id: i for i in self._compact(scope, subject)})
        return [i for i in written.values() if i.id not in retired], list(retired.values())

    def _compact(self, scope: str, subject: str) -> list[ProfileItem]:
        """Drop the oldest entries past the limits (delete operations); returns the dropped."""
        items = self.records.profile_items(scope, subject)
        current = sorted((i for i in items if i.status == "current"), key=lambda i: i.valid_from)
        dropped = current[: max(0, len(current) - self.config.max_items_per_subject)]
        history: dict[str, list[ProfileItem]] = {}
        for item in sorted((i for i in items if i.status == "superseded"), key=lambda i: i.valid_from, reverse=True):
            history.setdefault(item.attribute, []).append(item)
        for entries in history.values():
            dropped.extend(entries[self.config.max_history_per_attribute :])
        self.records.delete_profile_items(scope, [i.id for i in dropped])
        return dropped


# user_details keys people use for the profile's attributes.
_DETAIL_ATTRIBUTES = {
    "city": "residence", "location": "residence", "lives_in": "residence", "home": "residence",
    "residence": "residence", "address": "residence", "job": "occupation", "occupation": "occupation",
    "role": "occupation", "profession": "occupation", "title": "occupation", "company": "employer",
    "employer": "employer", "workplace": "employer", "school": "school", "university": "school",
    "college": "school", "partner": "partner", "spouse": "partner", "husband": "partner", "wife": "partner",
    "pet": "pet", "pets": "pet", "allergy": "allergy", "allergies": "allergy", "diet": "diet",
    "hobby": "hobby", "hobbies": "hobby", "language": "learning", "languages": "learning",
    "learning": "learning", "hometown": "hometown", "from": "hometown", "birthplace": "hometown",
    "likes": "likes", "dislikes": "dislikes", "teacher": "teacher", "car": "vehicle", "vehicle": "vehicle",
}  # fmt: skip
_MULTI_VALUED = {"pet", "allergy", "hobby", "learning", "likes", "dislikes", "sibling", "family", "friend", "schedule"}


def seed_drafts(user_details: Mapping[str, Any], default_subject: str, moment: datetime) -> list[ProfileDraft]:
    """Profile statements seeded from ``user_details``: ``{"Ana": {"city": "Porto"}}`` or a flat ``{"city": ...}``.

    A value keyed by a person's name holds that person's details; scalar keys describe the
    user (``name`` names them). Lists give several values; nested objects are not read, and
    in the flat form (one with ``name``) an object is a nested detail, not a person.
    """
    flat_form = "name" in user_details
    people: dict[str, Mapping[str, Any]] = (
        {} if flat_form else {k: v for k, v in user_details.items() if isinstance(v, Mapping)}
    )
    flat = {k: v for k, v in user_details.items() if not isinstance(v, Mapping) and k != "name"}
    if flat:
        people.setdefault(str(user_details.get("name") or default_subject), flat)
    drafts = []
    for subject, details in people.items():
        for key, raw in details.items():
            attribute = _DETAIL_ATTRIBUTES.get(key.lower(), key.replace("_", " ").strip().lower())
            for value in raw if isinstance(raw, list) else [raw]:
                if isinstance(value, Mapping | list) or value is None or not str(value).strip():
                    continue
                drafts.append(
                    ProfileDraft(
                        subject=subject,
                        category="trait",
                        attribute=attribute,
                        value=str(value).strip(),
                        text=f"{subject}, {attribute}: {value} (from the conversation's user details)",
                        evidence=[],
                        timestamp=moment,
                        multi_valued=attribute in _MULTI_VALUED or isinstance(raw, list),
                        origin="metadata",
                    )
                )
    return drafts


def profile_line(item: ProfileItem) -> str:
    """How a profile entry reads in a context: 'Caroline, residence: Denver (since 8 May 2023)'."""
    if item.origin == "metadata":
        return f"{item.subject}, {item.attribute}: {item.value} (from the conversation's user details)"
    since = f"since {format_day(item.valid_from)}"
    # A superseded entry's end is said by the history mark its line gets ("no longer true since ...").
    until = f", until {format_day(item.valid_until)}" if item.valid_until and item.status == "current" else ""
    return f"{item.subject}, {item.attribute}: {item.value} ({since}{until})"


def is_current_state(item: ProfileItem, moment: datetime) -> bool:
    """Whether a profile entry still holds at ``moment`` (states expire, traits do not)."""
    return item.status == "current" and (item.valid_until is None or item.valid_until >= moment)
