"""Rich tables and panels for what EverMem remembers (shared by ``show``, ``search`` and ``demo``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from evermem_integrations.engine.models import Fact, Foresight, MemCell, MemScene, Profile, ProfileItem, SearchResult
from evermem_integrations.inspector.snapshot import UNSCENED_COLOR, Snapshot
from evermem_integrations.memory import ScopeStats

HEADING_WIDTH = 80
"""Characters of a user-given value (a query, a file name) shown in a table heading."""

KIND_STYLES = {"fact": "cyan", "episode": "blue", "foresight": "magenta", "profile": "green", "raw": "yellow"}


def when(moment: datetime | None) -> str:
    """A compact UTC time: ``2025-09-12 19:05``."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def day(moment: datetime | None) -> str:
    """A day: ``12 Sep 2025``; open-ended as ``open``."""
    return moment.strftime("%d %b %Y").lstrip("0") if moment else "open"


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def quote(content: str, value: str) -> str:
    """The sentence of ``content`` that mentions ``value`` (the evidence worth showing)."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", content) if s.strip()]
    return next((s for s in sentences if value.lower() in s.lower()), content)


def swatch(color: str) -> Text:
    """A coloured block standing for a scene."""
    return Text("■", style=color)


def memcells_table(
    cells: Sequence[MemCell], colors: dict[str, str], *, title: str = "MemCells", show_ids: bool = True
) -> Table:
    """MemCells with time, scene colour, participants and what they hold."""
    table = Table(title=title or None, title_justify="left")
    table.add_column("", width=1)
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("title", style="bold", ratio=3)
    table.add_column("who", ratio=1)
    table.add_column("msgs", justify="right")
    table.add_column("facts", justify="right")
    table.add_column("plans", justify="right")
    if show_ids:
        table.add_column("id", style="dim", overflow="fold")
    for cell in cells:
        row: list[Any] = [
            swatch(colors.get(cell.scene_id or "", UNSCENED_COLOR)),
            when(cell.start_time),
            cell.title,
            ", ".join(cell.participants),
            str(len(cell.messages)),
            str(len(cell.facts)),
            str(len(cell.foresight)),
        ]
        if show_ids:
            row.append(cell.id)
        table.add_row(*row)
    return table


def memcell_details(cells: Sequence[MemCell], colors: dict[str, str], width: int = 400) -> RenderableType:
    """Each MemCell's episode narrative as a panel (``show memcells --full``)."""
    panels = [
        Panel(
            Text(shorten(cell.episode, width)),
            title=f"[bold]{cell.title}[/]  [dim]{when(cell.start_time)} · {cell.id}[/]",
            title_align="left",
            border_style=colors.get(cell.scene_id or "", UNSCENED_COLOR),
        )
        for cell in cells
    ]
    return Group(*panels)


def scenes_table(
    scenes: Sequence[MemScene], colors: dict[str, str], cells: Sequence[MemCell] = (), *, show_ids: bool = True
) -> Table:
    """MemScenes with their span, people and member MemCells (ids under the titles for ``--scene``)."""
    by_id = {c.id: c for c in cells}
    table = Table(title="MemScenes" if show_ids else None, title_justify="left")
    table.add_column("", width=1)
    table.add_column("scene", overflow="fold")
    table.add_column("span")
    table.add_column("who")
    table.add_column("MemCells")
    for scene in scenes:
        members = [by_id[i] for i in scene.cell_ids if i in by_id]
        people = sorted({p for c in members for p in c.participants})
        name = Text(scene.title, style="bold")
        if show_ids:  # the id is what --scene takes
            name.append(f"\n{scene.id}", style="dim")
            listing = "\n".join(f"{c.start_time:%d %b}  {c.title}" for c in members)
        else:
            listing = f"{len(members)}: " + ", ".join(f"{c.start_time:%d %b}" for c in members)
        span = f"{scene.start_time:%d %b} → {day(scene.end_time)}".lstrip("0")
        table.add_row(swatch(colors.get(scene.id, UNSCENED_COLOR)), name, span, ", ".join(people), listing)
    return table


def profile_panels(
    profiles: Sequence[Profile], history: Sequence[ProfileItem] = (), snapshot: Snapshot | None = None
) -> RenderableType:
    """One panel per person: stable traits beside temporary states, changes underneath."""
    if not profiles and not history:
        return Text("no profile entries yet", style="dim")
    panels: list[RenderableType] = []
    subjects = list(dict.fromkeys([p.subject for p in profiles] + [h.subject for h in history]))
    by_subject = {p.subject: p for p in profiles}
    for subject in subjects:
        profile = by_subject.get(subject, Profile(subject=subject))
        table = Table(show_header=True, box=None, pad_edge=False, expand=True)
        table.add_column("traits (stable)", ratio=1)
        table.add_column("states (temporary)", ratio=1)
        rows = max(len(profile.traits), len(profile.states), 1)
        for index in range(rows):
            trait = profile.traits[index] if index < len(profile.traits) else None
            state = profile.states[index] if index < len(profile.states) else None
            table.add_row(_profile_cell(trait, snapshot), _profile_cell(state, snapshot))
        parts: list[RenderableType] = [table]
        changes = [h for h in history if h.subject == subject]
        if changes:
            lines = Text("history: ", style="dim")
            for position, item in enumerate(changes):
                if position:
                    lines.append(" · ", style="dim")
                ended = f"until {day(item.valid_until)}" if item.valid_until else item.status
                lines.append(
                    f"{item.attribute}: {item.value} ({ended})",
                    style="dim strike" if item.status == "superseded" else "dim",
                )
            parts.append(lines)
        panels.append(Panel(Group(*parts), title=f"[bold]{subject}[/]", title_align="left", border_style="green"))
    return Group(*panels)


def _profile_cell(item: ProfileItem | None, snapshot: Snapshot | None) -> Text:
    if item is None:
        return Text("")
    text = Text()
    text.append(f"{item.attribute}: ", style="bold")
    text.append(item.value)
    period = f"  since {day(item.valid_from)}" + (f", until {day(item.valid_until)}" if item.valid_until else "")
    text.append(period, style="dim")
    evidence = snapshot.evidence(item) if snapshot else []
    if evidence:
        text.append(f"\n  “{shorten(quote(evidence[0].content, item.value), 70)}”", style="italic dim")
    else:
        text.append(f"\n  evidence: {', '.join(item.evidence)}", style="dim")
    return text


def foresight_table(items: Sequence[Foresight], as_of: datetime | None = None) -> Table:
    """Plans and temporary states with their validity windows."""
    table = Table(title="Foresight" + (f" (as of {day(as_of)})" if as_of else ""), title_justify="left")
    table.add_column("who", style="bold")
    table.add_column("plan / state")
    table.add_column("from", no_wrap=True)
    table.add_column("until", no_wrap=True)
    if as_of is not None:
        table.add_column("now", no_wrap=True)
    for item in items:
        row = [item.subject, shorten(item.text, 90), day(item.start), day(item.end)]
        if as_of is not None:
            row.append(
                "[green]active[/]"
                if item.is_valid_at(as_of)
                else ("[dim]ahead[/]" if item.start > as_of else "[dim]past[/]")
            )
        table.add_row(*row)
    return table


def facts_table(facts: Sequence[Fact]) -> Table:
    """Atomic facts; superseded ones struck through."""
    table = Table(title="Facts", title_justify="left")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("who", style="bold")
    table.add_column("fact")
    table.add_column("sources", style="dim")
    for fact in facts:
        style = "dim strike" if fact.superseded_by else ""
        table.add_row(
            when(fact.timestamp),
            fact.subject,
            Text(shorten(fact.text, 100), style=style),
            ", ".join(fact.source_message_ids),
        )
    return table


def search_table(result: SearchResult) -> Table:
    """Ranked search items with kind, score, time and source message ids."""
    heading = Text(f"“{shorten(result.query, HEADING_WIDTH)}” · {result.method}")  # a query is not markup
    table = Table(title=heading, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("kind")
    table.add_column("score", justify="right")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("memory")
    table.add_column("sources", style="dim")
    for rank, item in enumerate(result.items, start=1):
        table.add_row(
            str(rank),
            Text(item.kind, style=KIND_STYLES.get(item.kind, "")),
            f"{item.score:.3f}",
            when(item.timestamp),
            shorten(item.text, 100),
            ", ".join(item.source_message_ids[:4]) + (" …" if len(item.source_message_ids) > 4 else ""),
        )
    return table


def context_panel(result: SearchResult) -> Panel:
    """The context an LLM would receive, with its token count."""
    body = Text(result.context) if result.context.strip() else Text("(empty: nothing matched)", style="dim")
    return Panel(body, title=f"context · {result.context_tokens} tokens", title_align="left", border_style="cyan")


def stats_line(stats: ScopeStats) -> str:
    """One-line summary of a scope's contents."""
    return (
        f"{stats.messages} messages ({stats.buffered} buffered), {stats.memcells} MemCells, {stats.facts} facts, "
        f"{stats.scenes} scenes, {stats.profile_items} profile items, {stats.foresight} foresight"
    )
