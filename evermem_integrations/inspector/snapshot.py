"""Everything one scope remembers, collected once through the public API for display.

The HTML report, the PNG timeline and the CLI's tables all draw from a :class:`Snapshot`, so
they agree on which scene a MemCell belongs to and which colour that scene gets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

from pydantic import BaseModel, ConfigDict, Field

from evermem_integrations.engine.models import Foresight, MemCell, MemScene, Message, Profile, ProfileItem
from evermem_integrations.memory import EverMem, ScopeStats

# Colour-blind-friendly (Okabe-Ito, then Tableau) so neighbouring scenes stay distinguishable.
SCENE_COLORS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#999933",
    "#8c564b",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#9467bd",
)
UNSCENED_COLOR = "#9aa0a6"
VIEW_AHEAD = 0.35
"""The timeline runs this share of the conversation's length past its last message (plans ahead)."""
ALL = 10**9
"""``limit`` that takes everything from :meth:`EverMem.get`."""


class ScopeIds(TypedDict, total=False):
    """The scope ids of one EverMem scope, as keyword arguments."""

    user_id: str
    group_id: str
    agent_id: str


SCOPE_ID_WIDTH = 60
"""Characters of one scope id shown in labels; longer ids end in an ellipsis."""

_PLAIN_ID = re.compile(r"[\w.@:/#~-]+")


def scope_label(ids: Mapping[str, Any]) -> str:
    """One scope as one label: ``user=maya + group=demo`` (user, group, agent, in that order).

    The ``+`` joins the ids of a single scope (never a list of scopes, which the CLI joins with
    ``;``). An id that holds spaces or other syntax is quoted; one longer than
    :data:`SCOPE_ID_WIDTH` characters is shortened.
    """
    parts = []
    for name in ("user_id", "group_id", "agent_id"):
        value = ids.get(name)
        if not isinstance(value, str):
            continue
        shown = value if len(value) <= SCOPE_ID_WIDTH else value[: SCOPE_ID_WIDTH - 1] + "…"
        if not _PLAIN_ID.fullmatch(value):
            shown = json.dumps(shown, ensure_ascii=False)
        parts.append(f"{name.removesuffix('_id')}={shown}")
    return " + ".join(parts)


def scene_color(index: int) -> str:
    """The colour of the ``index``-th scene (in time order)."""
    return SCENE_COLORS[index % len(SCENE_COLORS)]


class Snapshot(BaseModel):
    """One scope's MemCells, MemScenes, profile and foresight, ready to render."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    scope: dict[str, Any]
    scope_label: str
    as_of: datetime
    stats: ScopeStats
    cells: list[MemCell]
    scenes: list[MemScene]
    profiles: list[Profile]
    history: list[ProfileItem] = Field(default_factory=list, description="superseded and expired profile entries")
    foresight: list[Foresight]
    buffered: list[Message] = Field(default_factory=list)
    colors: dict[str, str] = Field(default_factory=dict, description="scene id -> colour")

    @classmethod
    def collect(cls, mem: EverMem, *, as_of: datetime | None = None, **scope: Unpack[ScopeIds]) -> Snapshot:
        """Read a scope through :meth:`EverMem.get` / :meth:`EverMem.get_profile`.

        Args:
            mem: the memory to read.
            as_of: the moment states and foresight are judged at (default: now).
            **scope: ``user_id`` / ``group_id`` / ``agent_id``.

        """
        ids = scope
        moment = as_of or datetime.now(UTC)
        cells = mem.get(kind="episode", limit=ALL, **ids)
        scenes = mem.get(kind="scene", limit=ALL, **ids)
        current = mem.get_profile(current_time=moment, **ids)
        everything = mem.get_profile(current_time=moment, include_history=True, **ids)
        current_ids = {i.id for p in current for i in (*p.traits, *p.states)}
        history = [i for p in everything for i in (*p.traits, *p.states) if i.id not in current_ids]
        return cls(
            scope=dict(ids),
            scope_label=scope_label(ids),
            as_of=moment,
            stats=mem.stats(**ids),
            cells=cells,
            scenes=scenes,
            profiles=current,
            history=history,
            foresight=sorted(mem.get(kind="foresight", limit=ALL, **ids), key=lambda f: f.start),
            buffered=mem.get(kind="raw", limit=ALL, **ids),
            colors={s.id: scene_color(i) for i, s in enumerate(scenes)},
        )

    def color_of(self, scene_id: str | None) -> str:
        """A scene's colour (grey for a MemCell not yet in a scene)."""
        return self.colors.get(scene_id or "", UNSCENED_COLOR)

    def scene_of(self, cell: MemCell) -> MemScene | None:
        """The scene a MemCell belongs to."""
        return next((s for s in self.scenes if s.id == cell.scene_id or cell.id in s.cell_ids), None)

    def cells_of(self, scene: MemScene) -> list[MemCell]:
        """A scene's MemCells in time order."""
        members = set(scene.cell_ids)
        return [c for c in self.cells if c.id in members or c.scene_id == scene.id]

    def message_index(self) -> dict[str, Message]:
        """Every known message by id (evidence is stored as message ids)."""
        index = {m.id: m for c in self.cells for m in c.messages}
        index.update({m.id: m for m in self.buffered})
        return index

    def evidence(self, item: ProfileItem | Foresight) -> list[Message]:
        """The messages a profile entry or foresight was read from."""
        index = self.message_index()
        ids = item.evidence if isinstance(item, ProfileItem) else item.source_message_ids
        return [index[i] for i in ids if i in index]

    def is_active(self, item: Foresight) -> bool:
        """Whether a foresight window contains :attr:`as_of`."""
        return item.is_valid_at(self.as_of)

    def conversation_span(self) -> tuple[datetime, datetime] | None:
        """First and last message time of the MemCells and buffered messages."""
        moments = (
            [c.start_time for c in self.cells] + [c.end_time for c in self.cells] + [m.timestamp for m in self.buffered]
        )
        return (min(moments), max(moments)) if moments else None

    def now_marker(self) -> tuple[datetime, bool] | None:
        """Where the timeline's dashed line goes, and whether it marks the newest memory.

        The line marks :attr:`as_of` when that falls on the timeline's axis. When the data is
        older (a conversation from last year, looked at today, would put the line far off the
        axis), it marks the newest memory instead and the second value is True. None when
        there is nothing on the timeline.
        """
        span = self.conversation_span()
        if span is None:
            return None
        start, end = span
        view_end = end + max(end - start, timedelta(hours=1)) * VIEW_AHEAD
        if self.as_of > view_end:
            return end, True
        return self.as_of, False

    def time_span(self) -> tuple[datetime, datetime] | None:
        """First and last moment of anything shown (MemCells, buffered messages, foresight)."""
        moments: list[Any] = [c.start_time for c in self.cells] + [c.end_time for c in self.cells]
        moments += [m.timestamp for m in self.buffered]
        moments += [f.start for f in self.foresight] + [f.end for f in self.foresight if f.end]
        return (min(moments), max(moments)) if moments else None
