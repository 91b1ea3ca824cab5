"""What a filtered search costs against an unfiltered one (``python -m evermem_integrations.bench.filters``).

One scope of synthetic two-person chats (:func:`~evermem_integrations.bench.scale.synthetic_conversations`)
whose messages carry the metadata a chat app attaches: a ``channel`` (one of four, by
conversation), a ``thread`` (one per session) and a number ``n``. Each filter is timed over
the same queries as the unfiltered search; the figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from evermem_integrations.bench.metrics import percentile
from evermem_integrations.bench.scale import GROUP, synthetic_conversations, synthetic_queries
from evermem_integrations.memory import EverMem

CHANNELS = ("slack", "email", "sms", "web")
FILTERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "channel = slack (1/4, pushed down)": {"channel": "slack"},
    "channel in slack, email (1/2)": {"channel": {"$in": ["slack", "email"]}},
    "thread = one session (1/100s)": {"thread": "s0-d3"},
    "n > 150 (numbers: SQL, not Chroma)": {"n": {"$gt": 150}},
    "channel != slack (negation: SQL, not Chroma)": {"channel": {"$ne": "slack"}},
    "$or of channel and kind": {"$or": [{"channel": "sms"}, {"kind": "profile"}]},
}


def chats(messages: int) -> list[dict[str, Any]]:
    """The synthetic chats with channel, thread and ``n`` metadata."""
    out = []
    for index, conversation in enumerate(synthetic_conversations(messages)):
        for n, message in enumerate(conversation):
            thread = f"s{index}-d{n // 10}"
            out.append({**message, "metadata": {"channel": CHANNELS[index % 4], "thread": thread, "n": n}})
    return out


def run(messages: int = 4_000, queries: int = 40, token_budget: int = 2000) -> dict[str, tuple[float, float, int]]:
    """``{filter: (p50 ms, p95 ms, mean items)}`` over one scope of ``messages`` messages."""
    questions = synthetic_queries(queries, max(1, messages // 200))
    with tempfile.TemporaryDirectory() as scratch, EverMem(path=Path(scratch)) as mem:
        data = chats(messages)
        for start in range(0, len(data), 500):
            mem.add(data[start : start + 500], group_id=GROUP)
        mem.flush(group_id=GROUP)
        figures = {}
        for name, flt in FILTERS.items():
            mem.search(questions[0], group_id=GROUP, filters=flt, token_budget=token_budget)  # warm
            timings, items = [], 0
            for question in questions:
                started = time.perf_counter()
                result = mem.search(question, group_id=GROUP, filters=flt, token_budget=token_budget)
                timings.append((time.perf_counter() - started) * 1000)
                items += len(result.items)
            figures[name] = (percentile(timings, 50), percentile(timings, 95), items // len(questions))
    return figures


def main() -> None:
    """Print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4_000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    figures = run(args.messages, args.queries)
    print(f"hybrid search, {args.messages:,} messages in one scope, budget 2000, {args.queries} queries")
    print("| filter | p50 ms | p95 ms | items |\n|---|---|---|---|")
    for name, (p50, p95, items) in figures.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {items} |")


if __name__ == "__main__":
    main()
