"""Memory fidelity: whether what EverMem kept from a conversation matches its ground truth.

Where recall asks whether a context *carries* the evidence, fidelity asks whether the derived
memories are *right*. Given an EverMem the conversation was added to (its ``user_details``
set with ``set_conversation_meta`` first) and the conversation's
:class:`~evermem_integrations.datasets.assistant_chat.GroundTruth`, :func:`score_fidelity`
reads memory through the public API only (``get_profile``, ``search``, ``get``) and reports
four parts. Each is computed by a pure function of plain records, so the arithmetic can be
tested on hand-built cases.

**profile** (:func:`score_profile`), over the user's *current* profile entries at the end of
the conversation. An entry *matches* a truth entry when their attributes are equal after
normalisation (case, ``_``/``-`` as spaces, ``favourite`` as ``favorite``) and the truth value
or one of its aliases is contained in the entry's value, or the entry's value in it
(case-insensitively). Each truth attribute is ``right`` (an entry matches), else ``wrong`` (the
attribute has entries, none matching), else ``missing``; right + wrong + missing = truth
entries. ``stale`` counts superseded changes whose old value (or an old alias) is still in a
current entry of the attribute, whether or not the new value is there too. ``extra`` counts
current entries of attributes the truth does not list.

**updates** (:func:`score_update`), for each knowledge-update question, searched at its
question date: ``current_rank`` is the 1-based rank of the first search item whose text
contains a current value; ``old_above`` whether an item containing an old value ranks above it
(or the current value is not found but an old one is); ``old_marked`` whether every context
line that restates the old value (a line of an item drawn from the question's ``old_evidence``
messages, or a superseded profile entry, that contains an old value but no current value) says
``no longer true`` (None when the context holds no such line). Lines that merely mention the
old value ("the Manchester practice called") are no statement of it and are not judged.

**foresight** (:func:`score_foresight`): a plan's candidates are the foresight whose text
contains its keyword (case-insensitively), narrowed to those citing the plan's message when
any do. A plan is ``right`` when a candidate has the right window: for a recurring plan, no
end; otherwise an end on or after the day before the truth's end and the foresight no longer
valid at noon of the day after the event (valid = start <= moment <= end). Plans with
candidates but no right window are ``wrong``, plans without candidates ``missing``.
``non_plans`` lists the ``not_plans`` messages that some foresight cites.

**scenes** (:func:`score_scenes`): each MemCell is labelled by the majority topic of its
messages (ties: the topic seen first); a scene by the majority label of its MemCells. Purity
is the share of labelled MemCells in a scene whose scene has their label (MemCells in no
scene are counted as ``unassigned`` and left out). Purity alone rewards never grouping (one
scene a MemCell is 100 % pure), so ``completeness`` weighs the other side: for each label, the
largest share of its MemCells that one scene holds, averaged over the placed MemCells (100 %
when every topic sits in one scene). For each recurring topic it reports the
number of MemCells with that label and the number of distinct scenes they fall in (1 is
ideal).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from evermem_integrations.datasets.assistant_chat import GroundTruth, PlanTruth, ProfileTruth, SupersededTruth
from evermem_integrations.engine.models import Foresight, MemCell, MemScene, ProfileItem, SearchResult

if TYPE_CHECKING:
    from evermem_integrations.memory import EverMem

HISTORY_MARK = "no longer true"
"""What the rendered context says after a superseded memory."""

_ALL = 1_000_000


def normalise_attribute(name: str) -> str:
    """``Favourite_Tea`` -> ``favorite tea``."""
    text = re.sub(r"[\s_\-]+", " ", name.casefold()).strip()
    return re.sub(r"\bfavourite\b", "favorite", text)


def value_matches(value: str, forms: Iterable[str]) -> bool:
    """Whether a form is contained in ``value`` or ``value`` in a form (case-insensitive, non-empty)."""
    text = value.casefold().strip()
    if not text:
        return False
    return any(f.casefold().strip() and (f.casefold().strip() in text or text in f.casefold()) for f in forms)


# -- profile ---------------------------------------------------------------------------------


@dataclass
class ProfileScore:
    """Right / wrong / missing per truth attribute, stale changes, extra entries."""

    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra: int = 0
    entries: int = 0
    found: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts plus the attribute lists."""
        total = len(self.right) + len(self.wrong) + len(self.missing)
        return {
            "truth": total,
            "right": len(self.right),
            "wrong": len(self.wrong),
            "missing": len(self.missing),
            "stale": len(self.stale),
            "extra": self.extra,
            "entries": self.entries,
            "accuracy": len(self.right) / total if total else None,
            "details": {
                "right": self.right,
                "wrong": self.wrong,
                "missing": self.missing,
                "stale": self.stale,
                "found": self.found,
            },
        }


def score_profile(
    items: Sequence[ProfileItem], truth: Sequence[ProfileTruth], superseded: Sequence[SupersededTruth] = ()
) -> ProfileScore:
    """Score current profile ``items`` (one subject) against the truth (see the module doc)."""
    by_attribute: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_attribute[normalise_attribute(item.attribute)].append(item.value)
    score = ProfileScore(entries=len(items))
    known = {normalise_attribute(t.attribute) for t in truth}
    score.extra = sum(len(values) for attribute, values in by_attribute.items() if attribute not in known)
    for entry in truth:
        values = by_attribute.get(normalise_attribute(entry.attribute), [])
        if values:
            score.found[entry.attribute] = list(values)
        if any(value_matches(v, entry.forms) for v in values):
            score.right.append(entry.attribute)
        elif values:
            score.wrong.append(entry.attribute)
        else:
            score.missing.append(entry.attribute)
    for change in superseded:
        values = by_attribute.get(normalise_attribute(change.attribute), [])
        if any(value_matches(v, change.old_forms) for v in values):
            score.stale.append(f"{change.attribute}: {change.old}")
    return score


# -- knowledge updates -------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateScore:
    """Where the current and the old value of one knowledge-update question landed."""

    question: str
    current_rank: int | None
    old_rank: int | None
    old_above: bool
    old_marked: bool | None


def _first_rank(texts: Sequence[str], forms: Sequence[str]) -> int | None:
    wanted = [f.casefold() for f in forms if f.strip()]
    for rank, text in enumerate(texts, 1):
        if any(w in text.casefold() for w in wanted):
            return rank
    return None


def score_update(
    question: str,
    result: SearchResult,
    current: Sequence[str],
    old: Sequence[str],
    old_evidence: Collection[str] = (),
) -> UpdateScore:
    """Ranks of the current and old values in ``result`` and whether the old one reads as history."""
    texts = [item.text for item in result.items]
    current_rank = _first_rank(texts, current)
    old_rank = _first_rank(texts, old)
    old_above = old_rank is not None and (current_rank is None or old_rank < current_rank)
    restating = [
        item.text
        for item in result.items
        if (item.kind == "profile" or set(item.source_message_ids) & set(old_evidence))
        and _first_rank([item.text], old) is not None
        and _first_rank([item.text], current) is None
    ]
    lines = [
        line.casefold()
        for line in result.context.splitlines()
        if any(line.startswith(f"- {text}") for text in restating)
    ]
    old_marked = all(HISTORY_MARK in line for line in lines) if lines else None
    return UpdateScore(question, current_rank, old_rank, old_above, old_marked)


def summarize_updates(scores: Sequence[UpdateScore]) -> dict[str, Any]:
    """Counts over the knowledge-update questions, and each question's figures."""
    found = [s.current_rank for s in scores if s.current_rank is not None]
    return {
        "questions": len(scores),
        "current_found": len(found),
        "current_top1": sum(1 for r in found if r == 1),
        "mean_reciprocal_rank": sum(1 / r for r in found) / len(scores) if scores else None,
        "old_above_current": sum(1 for s in scores if s.old_above),
        "old_in_context": sum(1 for s in scores if s.old_marked is not None),
        "old_marked_as_history": sum(1 for s in scores if s.old_marked),
        "details": [asdict(s) for s in scores],
    }


# -- foresight ---------------------------------------------------------------------------------


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def _valid_at(foresight: Foresight, moment: datetime) -> bool:
    return foresight.start <= moment and (foresight.end is None or moment <= foresight.end)


def window_right(foresight: Foresight, plan: PlanTruth) -> bool:
    """Whether ``foresight`` has the plan's window (see the module doc)."""
    if plan.recurring:
        return foresight.end is None
    assert plan.end is not None  # checked by PlanTruth
    if foresight.end is None or foresight.end.date() < plan.end - timedelta(days=1):
        return False
    return not _valid_at(foresight, _noon(plan.end + timedelta(days=1)))


@dataclass
class ForesightScore:
    """Plans right / wrong / missing, and non-plans that became foresight."""

    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    non_plans: list[str] = field(default_factory=list)
    foresight: int = 0
    windows: dict[str, list[str]] = field(default_factory=dict)

    def summary(self, not_plans: int) -> dict[str, Any]:
        """Counts plus the keyword lists."""
        return {
            "plans": len(self.right) + len(self.wrong) + len(self.missing),
            "right": len(self.right),
            "wrong": len(self.wrong),
            "missing": len(self.missing),
            "not_plans": not_plans,
            "non_plans_as_foresight": len(self.non_plans),
            "foresight": self.foresight,
            "details": {
                "right": self.right,
                "wrong": self.wrong,
                "missing": self.missing,
                "non_plans": self.non_plans,
                "windows": self.windows,
            },
        }


def score_foresight(
    foresight: Sequence[Foresight], plans: Sequence[PlanTruth], not_plans: Sequence[str]
) -> ForesightScore:
    """Score stored ``foresight`` against the plans and non-plans of the truth."""
    score = ForesightScore(foresight=len(foresight))
    for plan in plans:
        keyword = plan.keyword.casefold()
        candidates = [f for f in foresight if keyword in f.text.casefold()]
        cited = [f for f in candidates if plan.message_id in f.source_message_ids]
        candidates = cited or candidates
        score.windows[plan.keyword] = [
            f"{f.start.date()}..{f.end.date() if f.end else 'open'}: {f.text}" for f in candidates
        ]
        if not candidates:
            score.missing.append(plan.keyword)
        elif any(window_right(f, plan) for f in candidates):
            score.right.append(plan.keyword)
        else:
            score.wrong.append(plan.keyword)
    cited_ids = {i for f in foresight for i in f.source_message_ids}
    score.non_plans = [i for i in not_plans if i in cited_ids]
    return score


# -- scenes ------------------------------------------------------------------------------------


def _majority(labels: Iterable[str]) -> str | None:
    counted = Counter(labels)
    return counted.most_common(1)[0][0] if counted else None  # ties: the label counted first


def cell_message_ids(cell: MemCell) -> list[str]:
    """The ids of a MemCell's messages (its facts' and foresight's sources when it keeps none)."""
    if cell.messages:
        return [m.id for m in cell.messages]
    sources = [i for f in cell.facts for i in f.source_message_ids]
    sources += [i for f in cell.foresight for i in f.source_message_ids]
    return list(dict.fromkeys(sources))


def score_scenes(
    cells: Sequence[MemCell],
    scenes: Sequence[MemScene],
    topics: Mapping[str, str],
    recurring_topics: Sequence[str] = (),
) -> dict[str, Any]:
    """Scene purity and scenes per recurring topic (see the module doc)."""
    label = {c.id: _majority(topics[i] for i in cell_message_ids(c) if i in topics) for c in cells}
    scene_of = {c.id: c.scene_id for c in cells if c.scene_id}
    for scene in scenes:
        scene_of.update({cell_id: scene.id for cell_id in scene.cell_ids})
    members: dict[str, list[str]] = defaultdict(list)
    for cell_id, scene_id in scene_of.items():
        if label.get(cell_id):
            members[scene_id].append(label[cell_id])  # type: ignore[arg-type]
    scene_label = {scene_id: _majority(labels) for scene_id, labels in members.items()}
    placed = [c.id for c in cells if label[c.id] and c.id in scene_of]
    pure = sum(1 for cell_id in placed if scene_label[scene_of[cell_id]] == label[cell_id])
    by_label: dict[str, Counter[str]] = defaultdict(Counter)
    for cell_id in placed:
        by_label[label[cell_id]][scene_of[cell_id]] += 1  # type: ignore[index]
    together = sum(max(scenes_of.values()) for scenes_of in by_label.values())
    per_topic = {
        topic: {
            "memcells": sum(1 for c in cells if label[c.id] == topic),
            "scenes": len({scene_of[c.id] for c in cells if label[c.id] == topic and c.id in scene_of}),
        }
        for topic in recurring_topics
    }
    return {
        "memcells": len(cells),
        "scenes": len({s for s in scene_of.values()}),
        "labelled": sum(1 for v in label.values() if v),
        "unassigned": sum(1 for c in cells if label[c.id] and c.id not in scene_of),
        "purity": pure / len(placed) if placed else None,
        "completeness": together / len(placed) if placed else None,
        "recurring_topics": per_topic,
    }


# -- all of it, from an EverMem ----------------------------------------------------------------


def score_fidelity(
    mem: EverMem,
    truth: GroundTruth,
    *,
    group_id: str,
    questions: Sequence[Any] | None = None,
    as_of: datetime | None = None,
    method: str = "hybrid",
    token_budget: int = 2000,
) -> dict[str, Any]:
    """Profile, knowledge updates, foresight and scenes of one conversation's scope.

    Args:
        mem: an EverMem the conversation was added to (and flushed).
        truth: the conversation's ground truth.
        group_id: the conversation's scope.
        questions: the knowledge-update questions to search (default: those of ``truth``).
        as_of: when the profile is read (default: the latest knowledge-update question date,
            else now).
        method: the search method the knowledge-update questions use.
        token_budget: their context budget.

    """
    updates = [q for q in (truth.questions if questions is None else questions) if q.type == "knowledge-update"]
    moment = as_of or max((q.question_date for q in updates), default=None) or datetime.now(UTC)
    subject = truth.subject.casefold()
    profiles = mem.get_profile(group_id=group_id, current_time=moment)
    items = [i for p in profiles if p.subject.casefold() == subject for i in (*p.traits, *p.states)]
    profile = score_profile(items, truth.profile, truth.superseded).summary()
    profile["subjects"] = [p.subject for p in profiles]
    update_scores = [
        score_update(
            q.question,
            mem.search(
                q.question,
                group_id=group_id,
                token_budget=token_budget,
                method=method,  # type: ignore[arg-type]
                current_time=q.question_date,
            ),
            q.current or [],
            q.old or [],
            q.old_evidence,
        )
        for q in updates
    ]
    foresight = mem.get(group_id=group_id, kind="foresight", limit=_ALL)
    cells = mem.get(group_id=group_id, kind="episode", limit=_ALL)
    scenes = mem.get(group_id=group_id, kind="scene", limit=_ALL)
    return {
        "as_of": moment.isoformat(),
        "method": method,
        "token_budget": token_budget,
        "profile": profile,
        "updates": summarize_updates(update_scores),
        "foresight": score_foresight(foresight, truth.plans, truth.not_plans).summary(len(truth.not_plans)),
        "scenes": score_scenes(cells, scenes, truth.topics, truth.recurring_topics),
    }


def fidelity_markdown(fidelity: Mapping[str, Any]) -> str:
    """A Markdown section of the fidelity figures."""
    p, u, f, s = (fidelity[k] for k in ("profile", "updates", "foresight", "scenes"))
    topics = ", ".join(f"{t} {v['scenes']} scenes / {v['memcells']} cells" for t, v in s["recurring_topics"].items())
    purity = "–" if s["purity"] is None else f"{100 * s['purity']:.1f} %"
    completeness = "–" if s.get("completeness") is None else f"{100 * s['completeness']:.1f} %"
    mrr = "–" if u["mean_reciprocal_rank"] is None else f"{u['mean_reciprocal_rank']:.2f}"
    lines = [
        "",
        f"### Memory fidelity (as of {fidelity['as_of'][:10]}, updates searched with {fidelity['method']} "
        f"at {fidelity['token_budget']} tokens)",
        "",
        "| part | figures |",
        "|---|---|",
        f"| profile | {p['right']} right, {p['wrong']} wrong, {p['missing']} missing of {p['truth']}; "
        f"{p['stale']} stale; {p['extra']} extra ({p['entries']} entries) |",
        f"| knowledge updates | current value found {u['current_found']}/{u['questions']} "
        f"(top-1 {u['current_top1']}, MRR {mrr}); old above current {u['old_above_current']}; "
        f"old statement in context {u['old_in_context']}, marked as history {u['old_marked_as_history']} |",
        f"| foresight | {f['right']} right, {f['wrong']} wrong window, {f['missing']} missing of {f['plans']} plans; "
        f"{f['non_plans_as_foresight']}/{f['not_plans']} non-plans as foresight ({f['foresight']} stored) |",
        f"| scenes | purity {purity}, completeness {completeness} over {s['labelled'] - s['unassigned']} MemCells "
        f"in {s['scenes']} scenes "
        f"({s['unassigned']} unassigned); {topics} |",
    ]
    return "\n".join(lines) + "\n"
