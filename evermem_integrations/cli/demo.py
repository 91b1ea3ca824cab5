"""``evermem demo``: the bundled sample chat, ingested offline, and what EverMem made of it.

The sample (``evermem_integrations/data/sample_conversation.json``) is an original chat
written for this demo: Maya and Leo over three weeks in September 2025, with a move from
Portland to Denver (a changed fact), a first half marathon (plans), preferences and moods.
Everything is judged as of the end of the conversation, so the output does not depend on
today's date.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from evermem_integrations.cli import render
from evermem_integrations.cli.config import Settings
from evermem_integrations.cli.store import make_embedder
from evermem_integrations.inspector.snapshot import ScopeIds, Snapshot
from evermem_integrations.loaders import ChatLog, load_chat_log
from evermem_integrations.memory import EverMem

DEMO_SCOPE = ScopeIds(group_id="demo")
SAMPLE = Path(str(files("evermem_integrations") / "data" / "sample_conversation.json"))


def run_demo(
    console: Console, path: Path | None, *, query: str, embedder_spec: str | None, settings: Settings
) -> Snapshot:
    """Ingest the sample into ``path`` (a temporary folder when None) and print the tour.

    Returns the snapshot shown, so callers (and tests) can check what was displayed.
    """
    if path is None:
        with tempfile.TemporaryDirectory(prefix="evermem-demo-", ignore_cleanup_errors=True) as tmp:
            return _tour(console, Path(tmp), query, embedder_spec, settings, keep=False)
    return _tour(console, path, query, embedder_spec, settings, keep=True)


def _tour(
    console: Console, path: Path, query: str, embedder_spec: str | None, settings: Settings, *, keep: bool
) -> Snapshot:
    log = load_chat_log(SAMPLE)
    days = len({m.timestamp.date() for m in log.messages})
    console.print(
        Panel.fit(
            f"[bold]{log.title}[/]: {len(log.messages)} messages over {days} days between "
            f"{' and '.join(log.speakers)}, ingested offline (no LLM, no network) into [cyan]{path}[/]",
            title="[bold]evermem demo[/]",
            border_style="cyan",
        )
    )
    started = time.perf_counter()
    with demo_memory(path, make_embedder(embedder_spec, settings)) as mem:
        progress = Progress(
            TextColumn("[bold]ingesting"), BarColumn(), MofNCompleteColumn(), console=console, transient=True
        )
        with progress:
            task = progress.add_task("ingest", total=len(log.messages))
            ingest_sample(mem, log, on_batch=lambda n: progress.advance(task, n))
        as_of = log.messages[-1].timestamp
        snapshot = Snapshot.collect(mem, as_of=as_of, **DEMO_SCOPE)
        result = mem.search(query, token_budget=350, current_time=as_of, limit=6, **DEMO_SCOPE)
    elapsed = time.perf_counter() - started
    console.print(f"[green]✓[/] {render.stats_line(snapshot.stats)} in {elapsed:.1f} s\n")
    _section(console, "1. MemCells: the conversation cut into episodes, coloured by scene")
    console.print(render.memcells_table(snapshot.cells, snapshot.colors, title="", show_ids=False))
    _section(console, "2. MemScenes: episodes grouped by theme")
    console.print(render.scenes_table(snapshot.scenes, snapshot.colors, snapshot.cells, show_ids=False))
    _section(console, f"3. Profile as of {render.day(as_of)}: stable traits vs temporary states")
    console.print(render.profile_panels(snapshot.profiles, snapshot.history, snapshot))
    _section(console, "4. Foresight: plans and states with a validity window")
    console.print(render.foresight_table(snapshot.foresight, as_of))
    _section(console, "5. Search: ranked memories and the context an LLM would get")
    console.print(render.search_table(result))
    console.print(render.context_panel(result))
    console.print(_next_steps(path if keep else None))
    return snapshot


def demo_memory(path: Path | None, embedder: Any = None) -> EverMem:
    """An EverMem on the default offline stack."""
    return EverMem(path=path, embedder=embedder)


def ingest_sample(mem: EverMem, log: ChatLog | None = None, on_batch: Callable[[int], object] | None = None) -> None:
    """Add the bundled sample to the demo scope in batches and close its last episode."""
    log = log or load_chat_log(SAMPLE)
    mem.set_conversation_meta(**DEMO_SCOPE, scene="group_chat", description=log.title)
    for start in range(0, len(log.messages), 10):
        batch = log.messages[start : start + 10]
        mem.add(batch, **DEMO_SCOPE)
        if on_batch is not None:
            on_batch(len(batch))
    mem.flush(**DEMO_SCOPE)


def _section(console: Console, title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}[/]", align="left", style="dim")


def _next_steps(path: Path | None) -> Panel:
    where = f" --path {path}" if path else ""
    lines: list[Any] = [
        "[bold]Try it on your own chats:[/]  evermem ingest chat.json --user me",
        '                              evermem search "what did I plan?" --user me',
    ]
    if path:
        lines += [
            f"[bold]Explore this demo:[/]  evermem show profile --group demo{where} --history",
            f"                    evermem inspect --group demo{where} --out demo.html --at 2025-09-29",
        ]
        from evermem_integrations.errors import ConfigurationError
        from evermem_integrations.inspector import INSTALL_HINT, require_matplotlib

        try:
            require_matplotlib()
        except ConfigurationError:
            lines.append(f"                    [dim](the inspector needs: {escape(INSTALL_HINT)})[/]")
    else:
        lines.append("[bold]Keep the demo store to explore it:[/]  evermem demo --path ./demo-memory")
    return Panel("\n".join(lines), title="next", title_align="left", border_style="green")
