"""A writer in a process of its own, for the concurrency and crash tests.

    python writer_process.py PATH USER FIRST LAST BATCH [--chroma-url URL] [--database-url URL] [--flush] [--ready FILE]

adds messages FIRST..LAST-1 of ``conversation()`` to scope ``user_id=USER`` in batches of BATCH,
then flushes if asked; prints one line per call so a parent can see progress.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evermem_integrations import EverMem
from evermem_integrations.errors import StoreBusyError
from tests.engine.write_path_support import conversation, vector_ids


def main() -> int:
    """Run the writer; exit 3 when the store is busy in another process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("user")
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("batch", type=int)
    parser.add_argument("--chroma-url")
    parser.add_argument("--database-url", help="records on this PostgreSQL server (PATH is then unused)")
    parser.add_argument("--collection-name", default="evermem")
    parser.add_argument("--flush", action="store_true")
    parser.add_argument("--total", type=int, default=0, help="conversation length (default: LAST)")
    parser.add_argument("--report", help="write the scope's vector ids here (JSON) before closing")
    args = parser.parse_args()
    messages = conversation(args.total or args.last)[args.first : args.last]
    try:
        mem = EverMem(
            path=args.path,
            chroma_url=args.chroma_url,
            database_url=args.database_url,
            collection_name=args.collection_name,
        )
    except StoreBusyError as exc:
        print(f"busy: {exc}", flush=True)
        return 3
    with mem:
        for start in range(0, len(messages), args.batch):
            result = mem.add(messages[start : start + args.batch], user_id=args.user)
            print(f"add {start} {result.added} {len(result.memcells)}", flush=True)
        if args.flush:
            print(f"flush {len(mem.flush(user_id=args.user))}", flush=True)
        if args.report:
            Path(args.report).write_text(json.dumps(sorted(vector_ids(mem, f"user={args.user}"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
