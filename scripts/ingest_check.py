"""Ingest every conversation of a LoCoMo file and every question of a LongMemEval file, whole and
session by session, and report any exception (the write path must take real data as it is).

    python scripts/ingest_check.py --locomo ../shared/data/locomo/locomo-dev.json \
        --longmemeval ../shared/data/longmemeval/longmemeval-s-dev60.json
"""

from __future__ import annotations

import argparse
import itertools
import time
import traceback
from collections.abc import Iterable, Sequence

from evermem_integrations import EverMem
from evermem_integrations.datasets import load_locomo
from evermem_integrations.datasets.longmemeval import load_longmemeval
from evermem_integrations.engine.models import Message


def sessions(messages: Sequence[Message]) -> Iterable[list[Message]]:
    """Consecutive messages of one session (ids look like ``<session>:<turn>``)."""
    for _, group in itertools.groupby(messages, key=lambda m: m.id.rsplit(":", 1)[0]):
        yield list(group)


def check(name: str, messages: Sequence[Message]) -> tuple[int, float, str | None]:
    """Ingest whole, then session by session into a fresh store; the first error, if any."""
    started = time.perf_counter()
    try:
        for mode in ("whole", "sessions"):
            with EverMem(path=None) as mem:
                batches = [list(messages)] if mode == "whole" else list(sessions(messages))
                for batch in batches:
                    mem.add(batch, user_id="u")
                mem.flush(user_id="u")
                stats = mem.stats(user_id="u")
                if stats.buffered or stats.messages != len({m.id for m in messages}):
                    return len(messages), time.perf_counter() - started, f"{mode}: {stats}"
    except Exception:  # report and go on: this script surveys failures
        return len(messages), time.perf_counter() - started, traceback.format_exc(limit=3)
    return 2 * len(messages), time.perf_counter() - started, None


def main() -> None:
    """Run the survey and print one line per conversation or question."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--locomo")
    parser.add_argument("--longmemeval")
    args = parser.parse_args()
    items: list[tuple[str, list[Message]]] = []
    if args.locomo:
        items += [(f"locomo {c.sample_id}", list(c.messages)) for c in load_locomo(args.locomo)]
    if args.longmemeval:
        items += [(f"longmemeval {q.question_id}", q.messages()) for q in load_longmemeval(args.longmemeval)]
    failures, total_messages, total_seconds = 0, 0, 0.0
    for name, messages in items:
        count, seconds, error = check(name, messages)
        total_messages, total_seconds = total_messages + count, total_seconds + seconds
        failures += error is not None
        print(f"{name}: {len(messages)} messages, {seconds:.1f} s, {'ok' if error is None else 'FAILED ' + error}")
    print(f"{len(items) - failures} of {len(items)} ingested without error; {total_messages / total_seconds:.0f} msg/s")


if __name__ == "__main__":
    main()
