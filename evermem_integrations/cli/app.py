"""The ``evermem`` command line: ingest chat logs, search, browse, inspect, export and delete.

Every command is a thin layer over :class:`~evermem_integrations.EverMem`'s public API; the
store, embedder and LLM come from flags, ``EVERMEM_*`` variables or a TOML config file (see
:mod:`evermem_integrations.cli.config`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from evermem_integrations.cli.config import Settings, resolve_settings
from evermem_integrations.cli.errors import CliError, EverMemGroup
from evermem_integrations.cli.store import EMBEDDER_HELP, open_memory

if TYPE_CHECKING:
    # The engine (numpy, pydantic models, Chroma) is imported by the commands that use it, so
    # `evermem --help` and a usage error answer at once.
    from evermem_integrations.engine.models import Scope
    from evermem_integrations.inspector.snapshot import ScopeIds
    from evermem_integrations.loaders import ChatLog
    from evermem_integrations.memory import EverMem, ScopeStats

DEMO_QUERY = "Where did Maya move?"

app = typer.Typer(
    name="evermem",
    cls=EverMemGroup,
    help="Long-term memory for LLM apps: ingest chat logs, search them, and see what was remembered.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    epilog="New here? Run: evermem demo",
)


@dataclass
class CliState:
    """Root options shared with every command."""

    flags: dict[str, str | None] = field(default_factory=dict)
    config: str | None = None
    verbose: bool = False


# -- shared options -------------------------------------------------------------------------------
UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="User id of the scope.", show_default=False)]
GroupOpt = Annotated[str | None, typer.Option("--group", "-g", help="Group id of the scope.", show_default=False)]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Agent id of the scope.", show_default=False)]
PathOpt = Annotated[
    str | None, typer.Option("--path", help="Store folder (env EVERMEM_PATH; default ./.evermem).", show_default=False)
]
ChromaOpt = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="Chroma server for vectors, e.g. http://127.0.0.1:8000 (env EVERMEM_CHROMA_URL).",
        show_default=False,
    ),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL for the records, e.g. postgresql://user:pass@host:5432/db, with --chroma-url "
        "(env EVERMEM_DATABASE_URL).",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show details (tracebacks) on errors.")]
AfterOpt = Annotated[
    str | None, typer.Option("--after", help="Only from this time on (ISO date or time).", show_default=False)
]
BeforeOpt = Annotated[
    str | None, typer.Option("--before", help="Only up to this time (ISO date or time).", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
FilterOpt = Annotated[
    str | None,
    typer.Option(
        "--filter",
        help='A filter as JSON on message metadata and built-in fields, e.g. \'{"channel": "slack"}\'.',
        show_default=False,
    ),
]


def parse_filter(text: str | None) -> dict[str, Any] | None:
    """The ``--filter`` JSON as a dict (the engine validates what it says)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f'--filter is not JSON ({exc.msg} at character {exc.pos}); e.g. --filter \'{{"channel": "slack"}}\''
        ) from None
    if not isinstance(value, dict):
        raise CliError(f'--filter must be a JSON object such as \'{{"channel": "slack"}}\', got {text!r}')
    return value


class Method(StrEnum):
    """Search methods (``agentic`` needs an LLM)."""

    keyword = "keyword"
    vector = "vector"
    hybrid = "hybrid"
    scene = "scene"
    agentic = "agentic"


class ShowWhat(StrEnum):
    """What ``evermem show`` browses."""

    memcells = "memcells"
    scenes = "scenes"
    profile = "profile"
    foresight = "foresight"
    facts = "facts"


def console() -> Console:
    """A console on the current stdout (so test runners capture it)."""
    return Console(highlight=False)


def settings_for(
    ctx: typer.Context, path: str | None = None, chroma_url: str | None = None, verbose: bool = False
) -> Settings:
    """Effective settings for a command: its own flags over the root's, then env, file, defaults."""
    state = _state(ctx)
    state.verbose = state.verbose or verbose
    flags = dict(state.flags)
    if path is not None:
        flags["path"] = path
    if chroma_url is not None:
        flags["chroma_url"] = chroma_url
    return resolve_settings(flags, config_path=state.config)


def _state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def scope_ids(user: str | None, group: str | None, agent: str | None) -> ScopeIds:
    """The scope as EverMem keyword arguments; at least one id is required."""
    from evermem_integrations.inspector.snapshot import ScopeIds

    ids = ScopeIds()
    if user is not None:
        ids["user_id"] = user
    if group is not None:
        ids["group_id"] = group
    if agent is not None:
        ids["agent_id"] = agent
    if not ids:
        raise CliError("no scope given: pass --user ID or --group ID (or --agent ID)")
    return ids


def open_existing(settings: Settings, ids: ScopeIds, *, use_llm: bool = False) -> EverMem:
    """Open the store for reading, failing clearly when it or the scope does not exist."""
    from evermem_integrations.engine.models import Scope
    from evermem_integrations.inspector.snapshot import scope_label

    path = settings.get("path")
    if _local_store(settings) and path is not None and not Path(path).expanduser().exists():
        raise CliError(f"no store at {path}; run `evermem ingest` first or point --path / EVERMEM_PATH at your store")
    mem = open_memory(settings, use_llm=use_llm)
    wanted = Scope.of(**ids)
    stored = mem.scopes()
    if wanted not in stored:
        mem.close()
        known = "; ".join(_label_of(s) for s in stored[:8]) or "none"
        more = f" and {len(stored) - 8} more" if len(stored) > 8 else ""
        raise CliError(
            f"no memories for {scope_label(ids)} in {path}; stored scopes: {known}{more} (see `evermem scopes`)"
        )
    return mem


def _local_store(settings: Settings) -> bool:
    """Whether the store is only on local disk (no server holds part of it)."""
    return settings.get("chroma_url") is None and settings.get("database_url") is None


def _label_of(scope: Scope) -> str:
    """A stored scope as one label, as :func:`scope_label` prints the scope options."""
    from evermem_integrations.inspector.snapshot import scope_label

    return scope_label(scope.model_dump())


def moment(value: str | None, name: str) -> datetime | None:
    """Parse a time option, naming the option when it cannot be read."""
    if value is None:
        return None
    from evermem_integrations.engine.timeparse import parse_timestamp
    from evermem_integrations.errors import InvalidTimestampError

    try:
        return parse_timestamp(value)
    except InvalidTimestampError as exc:
        raise CliError(f"{name}: {exc}") from None


# -- root ------------------------------------------------------------------------------------------
@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="TOML config file (env EVERMEM_CONFIG; default ./evermem.toml, then ~/.config/evermem/config.toml).",
            show_default=False,
        ),
    ] = None,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    database_url: DatabaseOpt = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder", help=f"Embedding model: {EMBEDDER_HELP} (env EVERMEM_EMBEDDER).", show_default=False
        ),
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option(
            "--llm-base-url",
            help="OpenAI-compatible endpoint (env EVERMEM_LLM_BASE_URL); key: EVERMEM_LLM_API_KEY or OPENAI_API_KEY.",
            show_default=False,
        ),
    ] = None,
    llm_model: Annotated[
        str | None,
        typer.Option(
            "--llm-model",
            help="LLM model; setting one turns on LLM extraction and agentic search (env EVERMEM_LLM_MODEL).",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Long-term memory for LLM apps: ingest chat logs, search them, and see what was remembered."""
    state = _state(ctx)
    state.config = config
    state.verbose = verbose
    state.flags = {
        "path": path,
        "chroma_url": chroma_url,
        "database_url": database_url,
        "embedder": embedder,
        "llm_base_url": llm_base_url,
        "llm_model": llm_model,
    }


# -- demo ------------------------------------------------------------------------------------------
@app.command()
def demo(
    ctx: typer.Context,
    path: Annotated[
        str | None,
        typer.Option(
            "--path", help="Keep the demo store in this folder (default: a temporary one).", show_default=False
        ),
    ] = None,
    query: Annotated[str, typer.Option("--query", "-q", help="The demo search.")] = DEMO_QUERY,
    verbose: VerboseOpt = False,
) -> None:
    """Ingest a bundled sample chat offline and show what EverMem remembers (a few seconds)."""
    from evermem_integrations.cli.demo import run_demo

    settings = settings_for(ctx, verbose=verbose)
    run_demo(
        console(), Path(path) if path else None, query=query, embedder_spec=settings.get("embedder"), settings=settings
    )


# -- ingest ----------------------------------------------------------------------------------------
@app.command()
def ingest(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Chat log: OpenAI-style JSON list, LoCoMo JSON, or JSONL.", show_default=False)
    ],
    user: UserOpt = None,
    group: GroupOpt = None,
    agent: AgentOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="auto, openai, locomo or jsonl.")] = "auto",
    conversation: Annotated[
        str | None,
        typer.Option("--conversation", help="LoCoMo sample_id when the file holds several.", show_default=False),
    ] = None,
    all_conversations: Annotated[
        bool,
        typer.Option(
            "--all-conversations",
            help="LoCoMo: every conversation of the file, each into its own scope (group id = its sample_id, "
            "with --user/--agent if given).",
        ),
    ] = False,
    user_name: Annotated[
        str | None,
        typer.Option(
            "--user-name",
            help="Sender for role=user messages without a name (default: the --user id).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Messages per add() call.")] = 50,
    no_flush: Annotated[
        bool, typer.Option("--no-flush", help="Leave the last open episode buffered (more messages will follow).")
    ] = False,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Load a chat log into a scope, with a progress bar; safe to re-run (stored messages are skipped)."""
    from evermem_integrations.inspector.snapshot import ScopeIds
    from evermem_integrations.loaders import load_all_conversations, load_chat_log

    settings = settings_for(ctx, path, chroma_url, verbose)  # first: --verbose covers every error below
    if all_conversations:
        if conversation is not None:
            raise CliError("give --conversation or --all-conversations, not both")
        if group is not None:
            raise CliError(
                "with --all-conversations each conversation goes into the group named by its sample_id; "
                "leave out --group (--user and --agent are kept)"
            )
        logs = load_all_conversations(file, format=fmt)
        jobs = [(log, ScopeIds(**scope_ids(user, log.title, agent))) for log in logs]
    else:
        ids = scope_ids(user, group, agent)
        jobs = [
            (load_chat_log(file, format=fmt, user_name=user_name or user or "user", conversation=conversation), ids)
        ]
    out = console()
    started = time.perf_counter()
    added = skipped = 0
    with open_memory(settings, use_llm=True) as mem:
        for log, ids in jobs:
            new, old = _ingest_log(mem, log, ids, out, batch_size=batch_size, flush=not no_flush)
            added, skipped = added + new, skipped + old
    if len(jobs) > 1:
        out.print(
            f"ingested {len(jobs)} conversations of {file.name} into {len(jobs)} scopes: {added} new messages, "
            f"{skipped} already stored ({time.perf_counter() - started:.1f} s)"
        )


def _ingest_log(
    mem: EverMem, log: ChatLog, ids: ScopeIds, out: Console, *, batch_size: int, flush: bool
) -> tuple[int, int]:
    """Add one chat log to one scope with a progress bar, print its summary; (added, skipped)."""
    from evermem_integrations.cli import render

    started = time.perf_counter()
    before = mem.stats(**ids)
    added = skipped = cut = 0
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[cells]} MemCells"),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    )
    name = render.shorten(log.path.name if log.title is None or log.format != "locomo" else log.title, 40)
    done = 0
    try:
        with progress:
            task = progress.add_task(f"ingesting {escape(name)}", total=len(log.messages), cells=0)
            for start in range(0, len(log.messages), batch_size):
                batch = log.messages[start : start + batch_size]
                result = mem.add(batch, **ids)
                added, skipped, cut = added + result.added, skipped + result.skipped, cut + len(result.memcells)
                done += len(batch)
                progress.update(task, advance=len(batch), cells=cut)
            if flush:
                progress.update(task, description="closing the last episode")
                cut += len(mem.flush(**ids))
                progress.update(task, cells=cut, description=f"ingested {escape(name)}")
    except KeyboardInterrupt:
        out.print(
            f"[yellow]interrupted after {done} of {len(log.messages)} messages;[/] run the same command again "
            "to resume (stored messages are skipped)"
        )
        raise typer.Exit(130) from None
    after = mem.stats(**ids)
    out.print(_ingest_summary(log, ids, added, skipped, before, after, time.perf_counter() - started, flushed=flush))
    return added, skipped


def _ingest_summary(
    log: ChatLog,
    ids: ScopeIds,
    added: int,
    skipped: int,
    before: ScopeStats,
    after: ScopeStats,
    elapsed: float,
    *,
    flushed: bool,
) -> Table:
    from evermem_integrations.cli import render
    from evermem_integrations.inspector.snapshot import scope_label

    heading = Text(f"{render.shorten(log.path.name, render.HEADING_WIDTH)} ({log.format}) → {scope_label(ids)}")
    table = Table(title=heading, title_justify="left", show_header=True)
    table.add_column("")
    table.add_column("this run", justify="right")
    table.add_column("scope total", justify="right")
    table.add_row("messages", f"{added} new, {skipped} already stored", str(after.messages))
    table.add_row("MemCells", f"+{after.memcells - before.memcells}", str(after.memcells))
    table.add_row("scenes", f"+{after.scenes - before.scenes}", str(after.scenes))
    table.add_row("facts", f"+{after.facts - before.facts}", str(after.facts))
    table.add_row("profile items", f"{after.profile_items - before.profile_items:+d}", str(after.profile_items))
    table.add_row("foresight", f"+{after.foresight - before.foresight}", str(after.foresight))
    table.add_row("buffered", "" if flushed else "--no-flush", str(after.buffered))
    table.add_row("time taken", f"{elapsed:.1f} s", "")
    if log.skipped_system:
        table.caption = f"{log.skipped_system} system message(s) left out"
    return table


# -- search ----------------------------------------------------------------------------------------
@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.", show_default=False)],
    user: UserOpt = None,
    group: GroupOpt = None,
    agent: AgentOpt = None,
    budget: Annotated[
        int | None,
        typer.Option("--budget", "-b", min=50, help="Token budget of the context (default 2000).", show_default=False),
    ] = None,
    method: Annotated[Method, typer.Option("--method", "-m", help="Retrieval method.")] = Method.hybrid,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Memory kinds to rank (repeatable): fact, episode, foresight, profile, raw.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Items to list.")] = 10,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only memories about this person.", show_default=False)
    ] = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Judge plans and states as of this time (default: now).", show_default=False),
    ] = None,
    filter_json: FilterOpt = None,
    as_json: JsonOpt = False,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Search a scope: ranked memories (kind, score, time, sources) and the rendered context."""
    from evermem_integrations.cli import render

    ids = scope_ids(user, group, agent)
    settings = settings_for(ctx, path, chroma_url, verbose)
    from evermem_integrations.engine.filters import all_of

    options = {k: v for k, v in (("subject", subject), ("after", after), ("before", before)) if v is not None}
    filters = all_of(options, parse_filter(filter_json))
    with open_existing(settings, ids, use_llm=method == Method.agentic) as mem:
        result = mem.search(
            query,
            token_budget=budget,
            method=method.value,  # type: ignore[arg-type]
            kinds=kind or None,  # type: ignore[arg-type]
            filters=filters,
            current_time=moment(at, "--at"),
            limit=limit,
            **ids,
        )
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    out = console()
    out.print(render.search_table(result))
    out.print(render.context_panel(result))


# -- show ------------------------------------------------------------------------------------------
@app.command()
def show(
    ctx: typer.Context,
    what: Annotated[
        ShowWhat, typer.Argument(help="memcells, scenes, profile, foresight or facts.", show_default=False)
    ],
    user: UserOpt = None,
    group: GroupOpt = None,
    agent: AgentOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    scene: Annotated[
        str | None, typer.Option("--scene", help="Only this MemScene (id from `show scenes`).", show_default=False)
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Only this person.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows per page.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Rows to skip.")] = 0,
    full: Annotated[bool, typer.Option("--full", help="memcells: print each episode's narrative.")] = False,
    history: Annotated[
        bool, typer.Option("--history", help="profile: include superseded and expired entries.")
    ] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="profile/foresight: as of this time (default: now).", show_default=False)
    ] = None,
    filter_json: FilterOpt = None,
    as_json: JsonOpt = False,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Browse what a scope remembers, with time/scene/person filters and paging."""
    from evermem_integrations.cli.browse import browse

    ids = scope_ids(user, group, agent)
    settings = settings_for(ctx, path, chroma_url, verbose)
    where = parse_filter(filter_json)
    with open_existing(settings, ids) as mem:
        page = browse(
            mem,
            what.value,
            ids,
            after=moment(after, "--after"),
            before=moment(before, "--before"),
            scene=scene,
            subject=subject,
            limit=limit,
            offset=offset,
            at=moment(at, "--at"),
            history=history,
            where=where,
        )
    if as_json:
        typer.echo(
            json.dumps({"total": page.total, "offset": offset, "items": page.json_items()}, indent=2, default=str)
        )
        return
    out = console()
    out.print(page.renderable(full=full))
    out.print(page.footer(offset, limit), style="dim")


# -- inspect ---------------------------------------------------------------------------------------
@app.command()
def inspect(
    ctx: typer.Context,
    user: UserOpt = None,
    group: GroupOpt = None,
    agent: AgentOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report to write.")] = Path("evermem-report.html"),
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write the timeline as a PNG.", show_default=False)
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Judge states and foresight as of this time (default: now).", show_default=False),
    ] = None,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write a self-contained HTML report: MemCell timeline by scene, scenes, profile, foresight."""
    from evermem_integrations.cli import render
    from evermem_integrations.inspector import Snapshot, write_report, write_timeline_png

    ids = scope_ids(user, group, agent)
    settings = settings_for(ctx, path, chroma_url, verbose)
    with open_existing(settings, ids) as mem:
        snapshot = Snapshot.collect(mem, as_of=moment(at, "--at"), **ids)
    size = write_report(snapshot, out)
    message = f"wrote {out} ({size / 1024:.0f} KB): {render.stats_line(snapshot.stats)}"
    if png is not None:
        write_timeline_png(snapshot, png)
        message += f"; timeline PNG {png}"
    console().print(message)


# -- export / import -------------------------------------------------------------------------------
@app.command()
def export(
    ctx: typer.Context,
    user: UserOpt = None,
    group: GroupOpt = None,
    agent: AgentOpt = None,
    out: Annotated[str, typer.Option("--out", "-o", help="JSON file to write ('-' for stdout).")] = "-",
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write everything a scope holds (messages, MemCells, scenes, profile, settings) as one JSON file."""
    from evermem_integrations.inspector.snapshot import scope_label

    ids = scope_ids(user, group, agent)
    settings = settings_for(ctx, path, chroma_url, verbose)
    with open_existing(settings, ids) as mem:
        data = mem.export_scope(**ids)
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if out == "-":
        typer.echo(text)
        return
    Path(out).write_text(text + "\n", encoding="utf-8")
    console().print(f"exported {len(data['messages'])} messages of {scope_label(ids)} to {out}")


@app.command(name="import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `evermem export`.", show_default=False)],
    user: Annotated[
        str | None,
        typer.Option("--user", "-u", help="Import into this user id instead of the file's scope.", show_default=False),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group", "-g", help="Import into this group id instead of the file's scope.", show_default=False
        ),
    ] = None,
    agent: AgentOpt = None,
    rederive: Annotated[
        bool,
        typer.Option(
            "--rederive",
            help="Add the messages and derive the memories with this store's pipeline (merges into a scope "
            "that holds others) instead of writing them as exported.",
        ),
    ] = False,
    no_flush: Annotated[
        bool, typer.Option("--no-flush", help="With --rederive: leave the last episode buffered.")
    ] = False,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write a scope exported by `evermem export` into this store, as it was stored; idempotent."""
    from evermem_integrations.cli import render
    from evermem_integrations.inspector.snapshot import scope_label

    settings = settings_for(ctx, path, chroma_url, verbose)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read {file} as an evermem export ({exc}); write one with `evermem export`") from None
    if not isinstance(data, dict):
        raise CliError(f"{file} is not an evermem export (a JSON object); write one with `evermem export`")
    stored: dict[str, Any] = data["scope"] if isinstance(data.get("scope"), dict) else {}
    if user or group or agent:  # import into another scope than the exported one
        ids = scope_ids(user, group, agent)
    else:
        ids = scope_ids(stored.get("user_id"), stored.get("group_id"), stored.get("agent_id"))
    started = time.perf_counter()
    with open_memory(settings, use_llm=rederive) as mem:
        result = mem.import_scope(data, **ids, rederive=rederive, flush=False if no_flush else None)
        stats = mem.stats(**ids)
    console().print(
        f"imported into {scope_label(ids)}: {result.added} new messages, {result.skipped} already stored; "
        f"{render.stats_line(stats)} ({time.perf_counter() - started:.1f} s)"
    )


# -- delete ----------------------------------------------------------------------------------------
@app.command()
def delete(
    ctx: typer.Context,
    user: UserOpt = None,
    group: GroupOpt = None,
    agent: AgentOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    path: PathOpt = None,
    chroma_url: ChromaOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Delete everything stored for a user, group or agent (every scope that has that id)."""
    from evermem_integrations.cli import render
    from evermem_integrations.inspector.snapshot import scope_label

    ids = scope_ids(user, group, agent)
    settings = settings_for(ctx, path, chroma_url, verbose)
    out = console()
    with open_memory(settings) as mem:
        doomed = [s for s in mem.scopes() if all(getattr(s, k) == v for k, v in ids.items())]
        if not doomed:
            out.print(f"nothing stored for {scope_label(ids)}; nothing deleted")
            return
        for scope in doomed:
            stats = mem.stats(**{k: v for k, v in scope.model_dump().items() if v is not None})
            out.print(f"  {_label_of(scope)}: {render.stats_line(stats)}")
        if not yes and not typer.confirm(
            f"Delete {len(doomed)} scope(s) for {scope_label(ids)}? This cannot be undone", default=False
        ):
            out.print("aborted; nothing deleted")
            raise typer.Exit(1)
        count = mem.delete(**ids)
    out.print(f"deleted {count} scope(s)")


# -- scopes / config -------------------------------------------------------------------------------
@app.command()
def scopes(ctx: typer.Context, path: PathOpt = None, chroma_url: ChromaOpt = None, verbose: VerboseOpt = False) -> None:
    """List the scopes in the store with what each holds."""
    from evermem_integrations.cli import render

    settings = settings_for(ctx, path, chroma_url, verbose)
    store = settings.values["database_url"].shown() if settings.get("database_url") else settings.get("path")
    if _local_store(settings) and store and not Path(store).expanduser().exists():
        raise CliError(f"no store at {store}; run `evermem ingest` first or point --path / EVERMEM_PATH at your store")
    table = Table(title=Text(f"scopes in {render.shorten(str(store), render.HEADING_WIDTH)}"), title_justify="left")
    for column in ("scope", "messages", "MemCells", "scenes", "facts", "profile", "foresight"):
        table.add_column(column, justify="left" if column == "scope" else "right")
    with open_memory(settings) as mem:
        for scope in mem.scopes():
            s = mem.stats(**{k: v for k, v in scope.model_dump().items() if v is not None})
            table.add_row(
                _label_of(scope),
                *map(str, (s.messages, s.memcells, s.scenes, s.facts, s.profile_items, s.foresight)),
            )
    console().print(table)


@app.command()
def config(ctx: typer.Context, path: PathOpt = None, chroma_url: ChromaOpt = None, verbose: VerboseOpt = False) -> None:
    """Show the effective settings and where each one came from."""
    settings = settings_for(ctx, path, chroma_url, verbose)
    table = Table(title="evermem settings", title_justify="left")
    table.add_column("setting", style="bold")
    table.add_column("value")
    table.add_column("from", style="dim")
    for setting in settings.values.values():
        table.add_row(setting.name, setting.shown(), setting.source)
    out = console()
    out.print(table)
    searched = ", ".join(str(p) for p in settings.searched)
    out.print(f"config file: {settings.config_file or 'none found'} (looked for: {searched})", style="dim")
    out.print(
        f"LLM: on ({settings.get('llm_model')})" if settings.llm_configured else "LLM: off (offline extraction)",
        style="dim",
    )
