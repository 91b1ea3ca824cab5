"""Writing benchmark reports: a JSON file, a Markdown table and PNG plots.

* ``<name>.json``: the whole summary (every number the tables and plots show);
* ``<name>.md``: recall per system and budget, tokens, latency, ingestion rate, the
  per-category breakdown at one budget, and QA accuracy when it ran;
* ``<name>_recall.png``: evidence and answer recall against the token budget, one curve per
  system; ``scale_latency.png``: search latency against stored facts, ``scale_ingest.png``:
  ingestion rate against messages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def write_json(report: Mapping[str, Any], path: Path) -> Path:
    """The report as indented JSON (NaN written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def retrieval_markdown(report: Mapping[str, Any], category_budget: int | None = None) -> str:
    """Markdown tables of a retrieval report (and of its QA part when present)."""
    budgets: list[int] = list(report["budgets"])
    results: Mapping[str, Any] = report["results"]
    lines = [
        f"## {report.get('benchmark', 'retrieval')} retrieval benchmark",
        "",
        f"{report.get('questions', '?')} questions, embedder `{report.get('embedder', '?')}`. "
        "Cells: evidence recall / answer recall (%), mean context tokens in brackets.",
        "",
        "| system | " + " | ".join(f"{b} tokens" for b in budgets) + " | p50 ms | p95 ms | ingest msg/s |",
        "|---|" + "---|" * len(budgets) + "---|---|---|",
    ]
    for system, row in results.items():
        cells = []
        for budget in budgets:
            cell = row["budgets"][str(budget)]
            cells.append(
                f"{_pct(cell['evidence_recall'])} / {_pct(cell['answer_recall'])} ({_num(cell['context_tokens'], 0)})"
            )
        ingestion = report.get("ingestion", {}).get("evermem" if system.startswith("evermem-") else system, {})
        lines.append(
            f"| {system} | "
            + " | ".join(cells)
            + f" | {_num(row['latency_p50_ms'])} | {_num(row['latency_p95_ms'])}"
            + f" | {_num(ingestion.get('messages_per_s'), 0)} |"
        )
    budget = category_budget if category_budget in budgets else max([b for b in budgets if b <= 2000] or budgets[:1])
    categories = sorted({c for row in results.values() for c in row["budgets"][str(budget)]["by_category"]})
    if categories:
        lines += [
            "",
            f"Per category at {budget} tokens (evidence / answer recall, %):",
            "",
            "| system | " + " | ".join(categories) + " |",
            "|---|" + "---|" * len(categories),
        ]
        for system, row in results.items():
            by_category = row["budgets"][str(budget)]["by_category"]
            cells = [
                f"{_pct(by_category[c]['evidence_recall'])} / {_pct(by_category[c]['answer_recall'])}"
                if c in by_category
                else "–"
                for c in categories
            ]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
    if report.get("qa"):
        lines += ["", qa_markdown(report["qa"], report.get("qa_settings", {}))]
    return "\n".join(lines) + "\n"


def qa_markdown(qa: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The QA accuracy table (LLM judge, mean ± std over judge runs)."""
    categories = sorted({c for row in qa.values() for c in row["by_category"]})
    header = (
        f"QA (answer model `{settings.get('answer_model', '?')}`, judge `{settings.get('judge_model', '?')}` "
        f"with the {settings.get('judge_protocol', '?')} protocol, {settings.get('judge_runs', 3)} judge runs, "
        f"budget {settings.get('budget', '?')} tokens): accuracy %, mean ± std"
    )
    lines = [
        header,
        "",
        "| system | overall | " + " | ".join(categories) + " | context tokens/q | answer prompt tokens/q |",
        "|---|---|" + "---|" * len(categories) + "---|---|",
    ]
    for system, row in qa.items():
        cells = [
            f"{_pct(row['by_category'][c]['accuracy_mean'])}" if c in row["by_category"] else "–" for c in categories
        ]
        lines.append(
            f"| {system} | {_pct(row['accuracy_mean'])} ± {_pct(row['accuracy_std'])} | "
            + " | ".join(cells)
            + f" | {_num(row['context_tokens_per_question'], 0)}"
            + f" | {_num(row['answer_prompt_tokens_per_question'], 0)} |"
        )
    return "\n".join(lines)


def _pyplot() -> Any:
    """Matplotlib's pyplot on the Agg backend, or a ConfigurationError naming the extra to install."""
    try:
        import matplotlib
    except ImportError as exc:
        from evermem_integrations.errors import ConfigurationError

        raise ConfigurationError(
            'the benchmark plots need matplotlib, which is not installed: pip install "evermem-integrations[bench]"'
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def recall_plot(report: Mapping[str, Any], path: Path) -> Path:
    """Evidence and answer recall against the token budget, one curve per system."""
    plt = _pyplot()

    budgets: list[int] = list(report["budgets"])
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for axis, metric, title in (
        (axes[0], "evidence_recall", "Evidence recall"),
        (axes[1], "answer_recall", "Answer recall"),
    ):
        for system, row in report["results"].items():
            values = [row["budgets"][str(b)][metric] for b in budgets]
            values = [math.nan if v is None else 100 * v for v in values]
            style = "--" if system == "full-context" else "-"
            label = system
            if system == "full-context":
                label += f" (~{row['budgets'][str(budgets[0])]['context_tokens'] or 0:,.0f} tokens)"
            axis.plot(budgets, values, style, marker="o", label=label)
        axis.set_xscale("log", base=2)
        axis.set_xticks(budgets, [str(b) for b in budgets])
        axis.set_xlabel("context budget (tokens)")
        axis.set_title(title)
        axis.set_ylim(0, 100)
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("%")
    axes[1].legend(fontsize=8, loc="lower right")
    figure.suptitle(f"{report.get('benchmark', '')}: recall against token budget")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


# Scale table columns: (header, point field, decimals).
_FOOTPRINT = [
    ("search p50 ms", "search_p50_ms", 1),
    ("search p95 ms", "search_p95_ms", 1),
    ("RSS MB", "rss_mb", 0),
    ("peak RSS MB", "peak_rss_mb", 0),
    ("disk MB", "disk_mb", 0),
    ("point s", "seconds", 0),
    ("total s", "elapsed_s", 0),
]
SEARCH_COLUMNS = [("facts", "facts", 0), ("memcells", "memcells", 0), ("scenes", "scenes", 0)]
SEARCH_COLUMNS += [("load facts/s", "load_facts_per_s", 0), *_FOOTPRINT]
TENANT_COLUMNS = [
    ("scopes", "scopes", 0),
    ("messages", "messages", 0),
    ("ingest msg/s", "ingest_messages_per_s", 0),
    ("search p50 ms", "search_p50_ms", 1),
    ("search p95 ms", "search_p95_ms", 1),
    ("reopen + first search s", "reopen_first_search_s", 2),
    ("disk MB", "disk_mb", 0),
    ("bytes per message", "bytes_per_message", 0),
    ("files", "files", 0),
    ("point s", "seconds", 0),
]
FLOOR_COLUMNS = [
    ("facts", "facts", 0),
    ("search p50 ms", "search_p50_ms", 1),
    ("floor p50 ms", "floor_p50_ms", 1),
    ("floor p95 ms", "floor_p95_ms", 1),
    ("times the floor", "floor_ratio", 1),
]
INGEST_COLUMNS = [("messages", "messages", 0), ("facts", "facts", 0), ("memcells", "memcells", 0)]
INGEST_COLUMNS += [("ingest msg/s", "ingest_messages_per_s", 0), *_FOOTPRINT]


def _table(points: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, int]]) -> list[str]:
    lines = ["| " + " | ".join(header for header, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_num(p[key], digits) for _, key, digits in columns) + " |" for p in points]
    return lines


def scale_markdown(report: Mapping[str, Any]) -> str:
    """The scale benchmark's tables: search latency against stored facts, ingestion rate."""
    lines = [
        "## Scale benchmark",
        "",
        f"{report.get('method', 'hybrid')} search over one scope, embedder `{report.get('embedder', '?')}`, "
        f"{report.get('cpus', '?')} CPUs. RSS is the whole process (the ingestion series runs first); "
        "total s is the time from an empty store to that size.",
    ]
    if report.get("search"):
        lines += ["", "Search latency against stored facts (bulk-loaded through `EverMem.add_memcells`):", ""]
        lines += _table(report["search"], SEARCH_COLUMNS)
        if report["search"][0].get("floor_p50_ms") is not None:
            lines += [
                "",
                "The floor over the same units, embeddings and queries in the same run (tantivy BM25 + hnswlib "
                "M=16 ef=100, RRF, the same packing into the budget; `bench/floor.py`):",
                "",
            ]
            lines += _table(report["search"], FLOOR_COLUMNS)
    if report.get("tenants"):
        lines += [
            "",
            f"Many tenants: scopes of {report.get('per_tenant', '?')} messages each in one store (`add` + `flush` "
            "per scope), then measured in a fresh process: opening the store and a first search, then search "
            "on a small scope picked at random for each query:",
            "",
        ]
        lines += _table(report["tenants"], TENANT_COLUMNS)
    if report.get("ingest"):
        lines += ["", "Ingestion through the full pipeline (`add` + `flush` per conversation), msg/s per segment:", ""]
        lines += _table(report["ingest"], INGEST_COLUMNS)
    return "\n".join(lines) + "\n"


def scale_plot(
    sizes: Sequence[float], curves: Mapping[str, Sequence[float]], labels: tuple[str, str, str], path: Path
) -> Path:
    """One scale figure: ``curves`` (label -> values) against ``sizes`` on a log axis.

    ``labels`` are the x-axis, y-axis and title.
    """
    plt = _pyplot()

    figure, axis = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        axis.plot(sizes, values, marker="o", label=label)
    if len(sizes) > 1:
        axis.set_xscale("log")
    xlabel, ylabel, title = labels
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_ylim(bottom=0)
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_retrieval_report(report: Mapping[str, Any], out: Path, name: str) -> dict[str, Path]:
    """All three outputs of a retrieval run into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / f"{name}.md"
    markdown.write_text(retrieval_markdown(report), encoding="utf-8")
    return {
        "json": write_json(report, out / f"{name}.json"),
        "markdown": markdown,
        "plot": recall_plot(report, out / f"{name}_recall.png"),
    }


CONCURRENCY_COLUMNS = (
    ("store", "mode", "{}"),
    ("msg/s", "messages_per_s", "{:,.0f}"),
    ("add p50 ms", "add_p50_ms", "{:.1f}"),
    ("add p95 ms", "add_p95_ms", "{:.1f}"),
    ("searches/s", "searches_per_s", "{:,.0f}"),
    ("search p50 ms", "search_p50_ms", "{:.1f}"),
    ("search p95 ms", "search_p95_ms", "{:.1f}"),
    ("errors", "errors", "{}"),
    ("cross reads found", "cross_found", "{}"),
    ("s", "seconds", "{:,.1f}"),
)


def concurrency_markdown(report: Mapping[str, Any]) -> str:
    """The concurrency benchmark's table: one row per store."""
    lines = [
        "## Concurrency benchmark",
        "",
        f"{report['clients']} clients at once over {report['scopes']:,} scopes of {report['per_scope']} messages "
        f"(adds of {report['batch']}, a search of a random scope after each, a flush per scope), "
        f"{report.get('cpus', '?')} CPUs; then 8 searches per client of scopes the others wrote "
        "(cross reads found / asked). Errors are counted by type; the run's scopes are deleted after.",
        "",
        "| " + " | ".join(title for title, _, _ in CONCURRENCY_COLUMNS) + " |",
        "|" + "---|" * len(CONCURRENCY_COLUMNS),
    ]
    for run in report["runs"]:
        cells = []
        for _, key, pattern in CONCURRENCY_COLUMNS:
            value = run[key]
            if key == "errors":
                value = ", ".join(f"{name} {count}" for name, count in sorted(value.items())) or "0"
            elif key == "cross_found":
                value = f"{value} / {run['cross_reads']}"
            cells.append(pattern.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
