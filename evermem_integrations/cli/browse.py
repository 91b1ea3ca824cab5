"""``evermem show``: one page of MemCells, scenes, profile entries, foresight or facts.

Filters the engine does not offer for a kind are applied here over :meth:`EverMem.get`'s
results (a scene filter on foresight means "read in that scene's MemCells", on profile
entries "evidenced by a message of that scene"), so every filter works on every kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Group, RenderableType
from rich.text import Text

from evermem_integrations.cli import render
from evermem_integrations.engine.filters import all_of
from evermem_integrations.engine.models import MemCell, MemScene, Profile, ProfileItem
from evermem_integrations.inspector.snapshot import ALL, ScopeIds, scene_color
from evermem_integrations.memory import EverMem


@dataclass
class Page:
    """A page of records plus what is needed to render it."""

    what: str
    items: list[Any]
    total: int
    colors: dict[str, str]
    cells: list[MemCell] = field(default_factory=list)
    as_of: datetime | None = None
    history: list[ProfileItem] = field(default_factory=list)

    def json_items(self) -> list[Any]:
        """The records as JSON-ready dicts."""
        return [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in self.items]

    def renderable(self, *, full: bool = False) -> RenderableType:
        """The page as a rich table or panels."""
        if not self.items and not self.history:
            return Text(f"no {self.what} match", style="yellow")
        if self.what == "memcells":
            table = render.memcells_table(self.items, self.colors)
            return Group(table, render.memcell_details(self.items, self.colors)) if full else table
        if self.what == "scenes":
            return render.scenes_table(self.items, self.colors, self.cells)
        if self.what == "profile":
            return render.profile_panels(_regroup(self.items), self.history)
        if self.what == "foresight":
            return render.foresight_table(self.items, self.as_of)
        return render.facts_table(self.items)

    def footer(self, offset: int, limit: int) -> str:
        """``12-20 of 57 · next page: --offset 20``."""
        if not self.total:
            return ""
        shown = len(self.items)
        text = f"{offset + 1 if shown else offset}-{offset + shown} of {self.total} {self.what}"
        if offset + shown < self.total:
            text += f" · next page: --offset {offset + limit}"
        return text


def browse(
    mem: EverMem,
    what: str,
    ids: ScopeIds,
    *,
    after: datetime | None = None,
    before: datetime | None = None,
    scene: str | None = None,
    subject: str | None = None,
    limit: int = 20,
    offset: int = 0,
    at: datetime | None = None,
    history: bool = False,
    where: dict[str, Any] | None = None,
) -> Page:
    """Fetch one page of ``what`` (memcells, scenes, profile, foresight or facts) with filters.

    ``where`` is an EverMem filter (``--filter``) applied on top of the other options.
    """
    scenes: list[MemScene] = mem.get(kind="scene", limit=ALL, **ids)
    colors = {s.id: scene_color(i) for i, s in enumerate(scenes)}
    if scene is not None and scene not in colors:
        from evermem_integrations.cli.errors import CliError

        raise CliError(f"no scene {scene!r} in this scope; list them with `evermem show scenes`")
    window = {k: v for k, v in (("after", after), ("before", before)) if v is not None}
    cells: list[MemCell] = mem.get(kind="episode", limit=ALL, **ids)
    scene_cells = {c.id for c in cells if c.scene_id == scene} if scene else None
    records: list[Any]
    extra_history: list[ProfileItem] = []
    if what == "memcells":
        filters = {**window, **({"scene_id": scene} if scene else {}), **({"subject": subject} if subject else {})}
        records = mem.get(kind="episode", filters=all_of(filters, where), limit=ALL, **ids)
    elif what == "facts":
        filters = {**window, **({"scene_id": scene} if scene else {}), **({"subject": subject} if subject else {})}
        records = mem.get(kind="fact", filters=all_of(filters, where), limit=ALL, **ids)
    elif what == "foresight":
        filters = {**window, **({"subject": subject} if subject else {})}
        records = mem.get(kind="foresight", filters=all_of(filters, where), limit=ALL, **ids)
        if scene_cells is not None:
            records = [f for f in records if f.cell_id in scene_cells]
        records.sort(key=lambda f: f.start)
    elif what == "scenes":
        passing = {s.id for s in mem.get(kind="scene", filters=where, limit=ALL, **ids)} if where else None
        records = [
            s
            for s in scenes
            if (scene is None or s.id == scene) and _overlaps(s, after, before) and (passing is None or s.id in passing)
        ]
        if subject:
            people = {c.id: c.participants for c in cells}
            records = [s for s in records if any(subject in people.get(i, []) for i in s.cell_ids)]
    elif what == "profile":
        moment = at or datetime.now(UTC)
        profiles = mem.get_profile(subject, current_time=moment, include_history=history, **ids)
        records = [i for p in profiles for i in (*p.traits, *p.states)]
        records = [
            i
            for i in records
            if (after is None or i.valid_from >= after) and (before is None or i.valid_from <= before)
        ]
        if where:
            passing = {p.id for p in mem.get(kind="profile", filters=where, limit=ALL, **ids)}
            records = [i for i in records if i.id in passing]
        if scene_cells is not None:
            scene_messages = {m.id for c in cells if c.id in scene_cells for m in c.messages}
            records = [i for i in records if scene_messages.intersection(i.evidence)]
        if history:  # keep history apart so traits/states show what holds now
            extra_history = [
                i for i in records if i.status == "superseded" or (i.valid_until and i.valid_until < moment)
            ]
            records = [i for i in records if i not in extra_history]
    else:
        raise ValueError(f"unknown kind {what!r}")
    page = records[offset : offset + limit]
    return Page(
        what=what,
        items=page,
        total=len(records),
        colors=colors,
        cells=cells,
        as_of=at or datetime.now(UTC),
        history=extra_history if offset == 0 else [],
    )


def _overlaps(scene: MemScene, after: datetime | None, before: datetime | None) -> bool:
    return (after is None or scene.end_time >= after) and (before is None or scene.start_time <= before)


def _regroup(items: list[ProfileItem]) -> list[Profile]:
    by_subject: dict[str, Profile] = {}
    for item in items:
        profile = by_subject.setdefault(item.subject, Profile(subject=item.subject))
        (profile.traits if item.category == "trait" else profile.states).append(item)
    return list(by_subject.values())
