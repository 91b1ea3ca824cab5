"""``evermem bench``: the LoCoMo, LongMemEval, assistant-chat and scale benchmarks from the command line.

``bench_app`` is a typer app mounted under ``evermem bench`` by the main CLI; it also runs on
its own (``python -m evermem_integrations.bench.cli locomo ...``). Each command writes a JSON
report, a Markdown table and PNG plots into ``--out`` and shows a progress bar while it runs.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from evermem_integrations.bench.baselines import BASELINES
from evermem_integrations.bench.corpus import BenchConversation
from evermem_integrations.bench.qa import LOCOMO_JUDGE, LONGMEMEVAL_JUDGE, JudgeProtocol, QAConfig, QAEvaluator
from evermem_integrations.bench.report import scale_markdown, scale_plot, write_json, write_retrieval_report
from evermem_integrations.bench.runner import (
    EVERMEM_METHODS,
    Servers,
    conversation_store_path,
    run_retrieval,
    score_rows,
    summarize,
)
from evermem_integrations.bench.scale import (
    TENANT_IDS,
    IngestPoint,
    SearchPoint,
    TenantIds,
    TenantsPoint,
    run_ingest_scale,
    run_search_scale,
    run_tenants_scale,
)
from evermem_integrations.cli.errors import BENCH_HELP
from evermem_integrations.engine.embeddings import StaticEmbedder
from evermem_integrations.engine.models import SearchMethod
from evermem_integrations.errors import ConfigurationError

bench_app = typer.Typer(
    name="bench",
    help=BENCH_HELP,
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
ALL_BASELINES = ",".join(BASELINES)

BudgetsOption = Annotated[str, typer.Option("--budgets", help="comma-separated context budgets in tokens")]
MethodsOption = Annotated[str, typer.Option("--methods", help=f"EverMem search methods ({', '.join(EVERMEM_METHODS)})")]
ALL_BASELINES = ",".join(BASELINES)
"""The default of --baselines: every baseline."""
BaselinesOption = Annotated[
    str, typer.Option("--baselines", help=f"baselines ({', '.join(BASELINES)}); empty for none")
]
OutOption = Annotated[Path, typer.Option("--out", help="folder for the JSON report, Markdown table and plots")]
StoreOption = Annotated[
    Path | None, typer.Option("--store", help="keep EverMem's store here (default: a temporary folder)")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="EverMem's records on this PostgreSQL (with --chroma-url); an empty database"),
]
ChromaUrl = Annotated[str | None, typer.Option("--chroma-url", help="EverMem's vectors on this Chroma server")]
AnswerModel = Annotated[str | None, typer.Option("--answer-model", help="run the QA benchmark: model that answers")]
JudgeModel = Annotated[str | None, typer.Option("--judge-model", help="model that judges (default: the answer model)")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint (default: OpenAI)")]
ApiKey = Annotated[
    str | None, typer.Option("--api-key", help="API key (default: $OPENAI_API_KEY)", envvar="OPENAI_API_KEY")
]
JudgeRuns = Annotated[int, typer.Option("--judge-runs", min=1, help="judge runs per question (protocol: 3)")]
QABudget = Annotated[
    int | None, typer.Option("--qa-budget", help="budget whose contexts QA answers from (default: <= 2000)")
]


def parse_list(value: str, what: str) -> list[str]:
    """Comma-separated names, order kept, blanks dropped."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def parse_ints(value: str, what: str) -> list[int]:
    """Comma-separated positive integers (``10000`` or ``10_000`` or ``10k``)."""
    numbers = []
    for part in parse_list(value, what):
        text = part.lower().replace("_", "")
        factor = 1_000_000 if text.endswith("m") else 1_000 if text.endswith("k") else 1
        try:
            number = int(float(text.rstrip("km")) * factor)
        except ValueError:
            raise ValueError(f"{what}: {part!r} is not a number (give e.g. 500,1000,2000)") from None
        if number <= 0:
            raise ValueError(f"{what}: {part!r} must be positive")
        numbers.append(number)
    if not numbers:
        raise ValueError(f"{what}: give at least one number")
    return numbers


def _check_names(names: Sequence[str], allowed: Sequence[str], what: str) -> None:
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ConfigurationError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")


def _command_line() -> str:
    argv = list(sys.argv)
    argv[0] = Path(argv[0]).name
    return shlex.join(argv)


@contextmanager
def _progress(total: int, description: str) -> Iterator[Any]:
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)

        def hook(text: str, advance: int) -> None:
            progress.update(task, description=text, advance=advance)

        yield hook


def _qa_evaluator(
    protocol: JudgeProtocol,
    answer_model: str | None,
    judge_model: str | None,
    base_url: str | None,
    api_key: str | None,
    runs: int,
) -> QAEvaluator | None:
    if answer_model is None:
        if judge_model is not None:
            raise ConfigurationError("--judge-model needs --answer-model (the QA benchmark answers, then judges)")
        return None
    config = QAConfig(answer_model, judge_model or answer_model, base_url, api_key, judge_runs=runs)
    return QAEvaluator(config, protocol=protocol)


def run_retrieval_command(
    benchmark: str,
    conversations: list[BenchConversation],
    *,
    data: Path,
    budgets: str,
    methods: str,
    baselines: str,
    out: Path,
    store: Path | None,
    qa: QAEvaluator | None,
    qa_budget: int | None,
    servers: Servers | None = None,
    extend_report: Callable[[dict[str, Any]], str] | None = None,
) -> dict[str, Path]:
    """Run a retrieval (+QA) benchmark, write its reports, print the Markdown table.

    ``extend_report``, when given, is called with the summary before it is written; it may add
    keys to it and returns Markdown appended to the table.
    """
    budget_list = parse_ints(budgets, "--budgets")
    method_list = parse_list(methods, "--methods")
    baseline_list = parse_list(baselines, "--baselines")
    _check_names(method_list, EVERMEM_METHODS, "method")
    _check_names(baseline_list, BASELINES, "baseline")
    if not method_list and not baseline_list:
        raise ConfigurationError("nothing to measure: give --methods and/or --baselines")
    questions = sum(len(c.questions) for c in conversations)
    if questions == 0:
        raise ConfigurationError(f"no questions to ask in {data} (check --conversations and the filters)")
    embedder = StaticEmbedder()
    started = time.perf_counter()
    with _progress(questions, f"{benchmark}: {questions} questions") as hook:
        result = run_retrieval(
            conversations,
            budgets=budget_list,
            methods=method_list,
            baselines=baseline_list,
            embedder=embedder,
            store_path=store,
            servers=servers,
            qa=qa,
            qa_budget=qa_budget,
            progress=hook,
        )
    meta: dict[str, Any] = {
        "benchmark": benchmark,
        "data": str(data),
        "conversations": [c.id for c in conversations] if len(conversations) <= 50 else len(conversations),
        "messages": sum(len(c.messages) for c in conversations),
        "embedder": embedder.name,
        "record_store": "postgresql" if servers and servers.database_url else "sqlite",
        "vector_store": "chroma server" if servers and servers.chroma_url else "embedded chroma",
        "methods": method_list,
        "baselines": baseline_list,
        "command": _command_line(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if qa is not None:
        meta["qa_settings"] = {
            "answer_model": qa.config.answer_model,
            "judge_model": qa.config.judge_model,
            "judge_protocol": qa.protocol.name,
            "base_url": qa.config.base_url,
            "judge_runs": qa.config.judge_runs,
            "budget": result.qa_budget,
        }
    report = summarize(result, budgets=budget_list, meta=meta)
    extra_markdown = extend_report(report) if extend_report is not None else ""
    paths = write_retrieval_report(report, out, benchmark)
    if extra_markdown:
        with paths["markdown"].open("a", encoding="utf-8") as markdown:
            markdown.write(extra_markdown)
    scores = out / f"{benchmark}_scores.jsonl"
    scores.write_text("".join(json.dumps(row) + "\n" for row in score_rows(result)), encoding="utf-8")
    paths["scores"] = scores
    if result.qa:
        answers = out / f"{benchmark}_qa_answers.jsonl"
        answers.write_text("".join(json.dumps(vars(r)) + "\n" for r in result.qa), encoding="utf-8")
        paths["qa_answers"] = answers
    typer.echo(paths["markdown"].read_text(encoding="utf-8"))
    console.print(f"wrote {', '.join(str(p) for p in paths.values())} in {meta['seconds']} s")
    return paths


@bench_app.command("locomo")
def locomo(
    data: Annotated[
        Path, typer.Option("--data", exists=True, dir_okay=False, help="LoCoMo JSON (locomo10.json or a subset)")
    ],
    conversations: Annotated[
        str, typer.Option("--conversations", help="comma-separated sample ids (default: all)")
    ] = "",
    budgets: BudgetsOption = "500,1000,2000,4000",
    methods: MethodsOption = "hybrid,scene",
    baselines: BaselinesOption = ALL_BASELINES,
    limit_questions: Annotated[
        int | None, typer.Option("--limit-questions", min=1, help="ask at most N questions per conversation")
    ] = None,
    sessions: Annotated[
        int | None, typer.Option("--sessions", min=1, help="keep the first N sessions (and the questions they answer)")
    ] = None,
    out: OutOption = Path("bench-results"),
    store: StoreOption = None,
    database_url: DatabaseUrl = None,
    chroma_url: ChromaUrl = None,
    answer_model: AnswerModel = None,
    judge_model: JudgeModel = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    judge_runs: JudgeRuns = 3,
    qa_budget: QABudget = None,
) -> None:
    """Retrieval recall (and, with --answer-model, LLM-judged QA) on LoCoMo categories 1-4."""
    from evermem_integrations.bench.locomo import locomo_conversations

    qa = _qa_evaluator(LOCOMO_JUDGE, answer_model, judge_model, base_url, api_key, judge_runs)
    loaded = locomo_conversations(
        data, parse_list(conversations, "--conversations") or None, limit_questions=limit_questions, sessions=sessions
    )
    run_retrieval_command(
        "locomo",
        loaded,
        data=data,
        budgets=budgets,
        methods=methods,
        baselines=baselines,
        out=out,
        store=store,
        servers=Servers(database_url, chroma_url),
        qa=qa,
        qa_budget=qa_budget,
    )


@bench_app.command("longmemeval")
def longmemeval(
    data: Annotated[
        Path, typer.Option("--data", exists=True, dir_okay=False, help="LongMemEval JSON (e.g. longmemeval_s.json)")
    ],
    question_types: Annotated[
        str, typer.Option("--question-types", help="comma-separated question_type values (default: all)")
    ] = "",
    include_abstention: Annotated[bool, typer.Option("--include-abstention", help="also ask _abs questions")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="ask at most N questions")] = None,
    budgets: BudgetsOption = "500,1000,2000,4000",
    methods: MethodsOption = "hybrid,scene",
    baselines: BaselinesOption = ALL_BASELINES,
    out: OutOption = Path("bench-results"),
    store: StoreOption = None,
    database_url: DatabaseUrl = None,
    chroma_url: ChromaUrl = None,
    answer_model: AnswerModel = None,
    judge_model: JudgeModel = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    judge_runs: JudgeRuns = 3,
    qa_budget: QABudget = None,
) -> None:
    """Retrieval recall (and, with --answer-model, QA under LongMemEval's judge) on LongMemEval.

    Each question has its own haystack. With --include-abstention the abstention questions are
    asked too, and QA judges whether the answer says the information is missing.
    """
    from evermem_integrations.bench.longmemeval import longmemeval_conversations

    qa = _qa_evaluator(LONGMEMEVAL_JUDGE, answer_model, judge_model, base_url, api_key, judge_runs)
    loaded = longmemeval_conversations(
        data,
        question_types=parse_list(question_types, "--question-types") or None,
        include_abstention=include_abstention,
        limit=limit,
    )
    run_retrieval_command(
        "longmemeval",
        loaded,
        data=data,
        budgets=budgets,
        methods=methods,
        baselines=baselines,
        out=out,
        store=store,
        servers=Servers(database_url, chroma_url),
        qa=qa,
        qa_budget=qa_budget,
    )


@bench_app.command("assistant")
def assistant(
    data: Annotated[
        Path | None,
        typer.Option("--data", exists=True, dir_okay=False, help="assistant-chat JSON (default: the bundled one)"),
    ] = None,
    question_types: Annotated[
        str, typer.Option("--question-types", help="comma-separated question types (default: all)")
    ] = "",
    budgets: BudgetsOption = "500,1000,2000,4000",
    methods: MethodsOption = "hybrid,scene",
    baselines: BaselinesOption = ALL_BASELINES,
    limit_questions: Annotated[
        int | None, typer.Option("--limit-questions", min=1, help="ask at most N questions")
    ] = None,
    fidelity_method: Annotated[
        str, typer.Option("--fidelity-method", help="search method of the knowledge-update checks")
    ] = "hybrid",
    fidelity_budget: Annotated[
        int, typer.Option("--fidelity-budget", min=50, help="token budget of the knowledge-update checks")
    ] = 2000,
    out: OutOption = Path("bench-results"),
    store: StoreOption = None,
    answer_model: AnswerModel = None,
    judge_model: JudgeModel = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    judge_runs: JudgeRuns = 3,
    qa_budget: QABudget = None,
) -> None:
    """Recall per question type and memory fidelity on the bundled assistant chat (ground truth).

    Retrieval is measured as in ``bench locomo``. Fidelity (profile right / wrong / missing /
    stale, knowledge-update ranks, foresight windows, scene purity) is read from the EverMem
    store the conversation was added to, with the user's ``user_details`` set beforehand.
    """
    import tempfile

    from evermem_integrations import EverMem
    from evermem_integrations.bench.assistant_chat import to_bench
    from evermem_integrations.bench.fidelity import fidelity_markdown, score_fidelity
    from evermem_integrations.datasets.assistant_chat import DATA_PATH, QUESTION_TYPES, load_assistant_chat

    types = parse_list(question_types, "--question-types")
    _check_names(types, QUESTION_TYPES, "question type")
    _check_names([fidelity_method], [m for m in EVERMEM_METHODS if m != "agentic"], "fidelity method")
    qa = _qa_evaluator(LOCOMO_JUDGE, answer_model, judge_model, base_url, api_key, judge_runs)
    path = data or DATA_PATH
    chat = load_assistant_chat(path)
    conversation = to_bench(chat, question_types=types or None, limit_questions=limit_questions)
    kept = {q.id for q in conversation.questions}
    questions = [q for q in chat.truth.questions if f"{chat.id}:{q.id}" in kept]
    with tempfile.TemporaryDirectory(prefix="evermem-assistant-") as scratch:
        store_path = store or Path(scratch) / "store"

        def open_store() -> EverMem:
            return EverMem(path=conversation_store_path(store_path, chat.id), embedder=StaticEmbedder())

        with open_store() as mem:  # the conversation's metadata, before anything is added
            mem.set_conversation_meta(group_id=chat.id, scene="assistant", user_details=chat.user_details)

        def add_fidelity(report: dict[str, Any]) -> str:
            with open_store() as mem:
                if not parse_list(methods, "--methods"):  # no EverMem method ran: ingest for fidelity alone
                    mem.add(chat.messages, group_id=chat.id)
                    mem.flush(group_id=chat.id)
                report["fidelity"] = score_fidelity(
                    mem,
                    chat.truth,
                    group_id=chat.id,
                    questions=questions,
                    as_of=max(q.question_date for q in chat.truth.questions),
                    method=fidelity_method,
                    token_budget=fidelity_budget,
                )
            return fidelity_markdown(report["fidelity"])

        run_retrieval_command(
            "assistant",
            [conversation],
            data=path,
            budgets=budgets,
            methods=methods,
            baselines=baselines,
            out=out,
            store=store_path,
            qa=qa,
            qa_budget=qa_budget,
            extend_report=add_fidelity,
        )


@bench_app.command("scale")
def scale(
    facts: Annotated[
        str,
        typer.Option("--facts", help="search series: stored facts, cumulative, bulk-loaded (empty to skip)"),
    ] = "10000,100000,1000000",
    messages: Annotated[
        str,
        typer.Option("--messages", help="ingestion series: messages through add + flush, cumulative (empty to skip)"),
    ] = "10000,50000,100000",
    queries: Annotated[int, typer.Option("--queries", min=1, help="searches timed at each size")] = 50,
    per_conversation: Annotated[
        int, typer.Option("--per-conversation", min=2, help="messages per synthetic conversation (ingestion)")
    ] = 200,
    batch_facts: Annotated[
        int, typer.Option("--batch-facts", min=1, help="facts per bulk-load batch (search series)")
    ] = 5000,
    budget: Annotated[int, typer.Option("--budget", min=50, help="search token budget")] = 2000,
    method: Annotated[str, typer.Option("--method", help="search method timed")] = "hybrid",
    out: OutOption = Path("bench-results"),
    store: Annotated[
        Path | None,
        typer.Option(
            "--store", help="keep the stores in <store>/ingest, <store>/search, <store>/tenants (default: temporary)"
        ),
    ] = None,
    floor: Annotated[
        bool, typer.Option("--floor/--no-floor", help="time the floor (tantivy + hnswlib) at each search size")
    ] = True,
    tenants: Annotated[
        str,
        typer.Option("--tenants", help="many-tenants series: scopes in one store, cumulative (empty to skip)"),
    ] = "1000,10000",
    per_tenant: Annotated[int, typer.Option("--per-tenant", min=2, help="messages per scope (many tenants)")] = 20,
    tenant_ids: Annotated[
        str, typer.Option("--tenant-ids", help="tenants' user ids: numbered (tenant-0) or uuid (many tenants)")
    ] = "numbered",
) -> None:
    """Search latency against stored facts, and ingestion rate, memory and disk as one store grows."""
    fact_sizes = sorted(set(parse_ints(facts, "--facts"))) if facts.strip() else []
    message_sizes = sorted(set(parse_ints(messages, "--messages"))) if messages.strip() else []
    tenant_sizes = sorted(set(parse_ints(tenants, "--tenants"))) if tenants.strip() else []
    if not fact_sizes and not message_sizes and not tenant_sizes:
        raise ConfigurationError("nothing to measure: give --facts, --messages and/or --tenants")
    _check_names([method], [m for m in EVERMEM_METHODS if m != "agentic"], "method")
    _check_names([tenant_ids], TENANT_IDS, "tenant ids")
    search_method = cast(SearchMethod, method)
    embedder = StaticEmbedder()
    started = time.perf_counter()

    def report_tenants(point: TenantsPoint) -> None:
        console.print(
            f"{point.scopes:,} scopes of {per_tenant} messages: ingest {point.ingest_messages_per_s:,.0f} msg/s, "
            f"search p50 {point.search_p50_ms:.1f} ms / p95 {point.search_p95_ms:.1f} ms, "
            f"reopen + first search {point.reopen_first_search_s:.2f} s, "
            f"{point.bytes_per_message:,.0f} B per message in {point.files:,} files"
        )

    def report_point(point: SearchPoint | IngestPoint) -> None:
        size = f"{point.facts:,} facts" if isinstance(point, SearchPoint) else f"{point.messages:,} messages"
        rate = (
            f"load {point.load_facts_per_s:,.0f} facts/s"
            if isinstance(point, SearchPoint)
            else f"ingest {point.ingest_messages_per_s:,.0f} msg/s"
        )
        floor = ""
        if isinstance(point, SearchPoint) and point.floor_p50_ms is not None:
            floor = f" (floor p50 {point.floor_p50_ms:.1f} ms: {point.floor_ratio:.1f} times the floor)"
        console.print(
            f"{size}: point took {point.seconds:,.0f} s ({point.elapsed_s:,.0f} s from empty); {rate}, "
            f"search p50 {point.search_p50_ms:.1f} ms / p95 {point.search_p95_ms:.1f} ms{floor}, "
            f"RSS {point.rss_mb:,.0f} MB, disk {point.disk_mb:,.1f} MB"
        )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    ingest_points: list[IngestPoint] = []
    search_points: list[SearchPoint] = []
    tenant_points: list[TenantsPoint] = []
    with Progress(*columns, console=console) as progress:

        def hook_for(total: int) -> Callable[[str, int, int], None]:
            task = progress.add_task("starting", total=total)
            return lambda text, done, _total: progress.update(task, description=text, completed=done)

        common: dict[str, Any] = {
            "queries": queries,
            "token_budget": budget,
            "method": search_method,
            "embedder": embedder,
            "on_point": report_point,
        }
        # Ingestion first: its store is the smaller, so the search series' RSS is not inflated by it.
        if message_sizes:
            ingest_points = run_ingest_scale(
                message_sizes,
                per_conversation=per_conversation,
                store_path=store / "ingest" if store else None,
                progress=hook_for(message_sizes[-1]),
                **common,
            )
        if tenant_sizes:
            tenant_points = run_tenants_scale(
                tenant_sizes,
                per_scope=per_tenant,
                queries=queries,
                token_budget=budget,
                tenant_ids=cast(TenantIds, tenant_ids),
                store_path=store / "tenants" if store else None,
                progress=hook_for(tenant_sizes[-1]),
                on_point=report_tenants,
            )
        if fact_sizes:
            search_points = run_search_scale(
                fact_sizes,
                batch_facts=batch_facts,
                floor=floor,
                store_path=store / "search" if store else None,
                progress=hook_for(fact_sizes[-1]),
                **common,
            )
    report: dict[str, Any] = {
        "benchmark": "scale",
        "method": method,
        "embedder": embedder.name,
        "budget": budget,
        "queries": queries,
        "cpus": os.cpu_count(),
        "command": _command_line(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "search": [vars(p) for p in search_points],
        "ingest": [vars(p) for p in ingest_points],
        "tenants": [vars(p) for p in tenant_points],
        "per_tenant": per_tenant,
        "tenant_ids": tenant_ids,
    }
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "scale.md"
    markdown.write_text(scale_markdown(report), encoding="utf-8")
    paths = [write_json(report, out / "scale.json"), markdown]
    if search_points:
        paths.append(
            scale_plot(
                [p.facts for p in search_points],
                {"p50": [p.search_p50_ms for p in search_points], "p95": [p.search_p95_ms for p in search_points]},
                ("facts in the store (one scope)", "hybrid search latency (ms)", "Search latency against store size"),
                out / "scale_latency.png",
            )
        )
    if ingest_points:
        paths.append(
            scale_plot(
                [p.messages for p in ingest_points],
                {"add + flush": [p.ingest_messages_per_s for p in ingest_points]},
                ("messages in the store (one scope)", "messages/s since the previous size", "Ingestion rate"),
                out / "scale_ingest.png",
            )
        )
    typer.echo(markdown.read_text(encoding="utf-8"))
    console.print(f"wrote {', '.join(str(p) for p in paths)} in {report['seconds']} s")


@bench_app.command("concurrency")
def concurrency(
    clients: Annotated[int, typer.Option("--clients", min=1, help="clients adding and searching at once")] = 8,
    scopes: Annotated[int, typer.Option("--scopes", min=1, help="scopes written, each by one client")] = 1000,
    per_scope: Annotated[int, typer.Option("--per-scope", min=2, help="messages per scope")] = 20,
    batch: Annotated[int, typer.Option("--batch", min=1, help="messages per add")] = 4,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="EVERMEM_DATABASE_URL", help="PostgreSQL of the server pair"),
    ] = None,
    chroma_url: Annotated[
        str | None, typer.Option("--chroma-url", envvar="EVERMEM_CHROMA_URL", help="Chroma server of the pair")
    ] = None,
    embedded: Annotated[
        bool, typer.Option("--embedded/--no-embedded", help="also run on an embedded store, for comparison")
    ] = True,
    out: OutOption = Path("bench-results"),
) -> None:
    """Clients adding and searching at once over many scopes: throughput, p50/p95, errors, cross reads."""
    from evermem_integrations.bench.concurrency import run_concurrency
    from evermem_integrations.bench.report import concurrency_markdown

    started = time.perf_counter()
    shape: dict[str, Any] = {"clients": clients, "scopes": scopes, "per_scope": per_scope, "batch": batch}
    runs = []
    if database_url or chroma_url:
        if not (database_url and chroma_url):
            raise ConfigurationError("a server run needs both --database-url and --chroma-url")
        console.print(f"server pair: {clients} client processes over {scopes:,} scopes ...")
        runs.append(run_concurrency(**shape, database_url=database_url, chroma_url=chroma_url))
    if embedded or not runs:
        console.print(f"embedded store: {clients} client threads over {scopes:,} scopes ...")
        runs.append(run_concurrency(**shape))
    report: dict[str, Any] = {
        "benchmark": "concurrency",
        **shape,
        "cpus": os.cpu_count(),
        "command": _command_line(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "runs": [vars(r) for r in runs],
    }
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "concurrency.md"
    markdown.write_text(concurrency_markdown(report), encoding="utf-8")
    paths = [write_json(report, out / "concurrency.json"), markdown]
    typer.echo(markdown.read_text(encoding="utf-8"))
    console.print(f"wrote {', '.join(str(p) for p in paths)} in {report['seconds']} s")


if __name__ == "__main__":  # pragma: no cover
    bench_app()
