"""Peak memory of `bulkmod predict` with the default model against the number of crystals streamed through it.

    python benchmarks/predict_memory.py [--sizes 100 1000 2000] [--model default]

Inputs are JSON-lines files of real Materials Project crystals (a seeded sample of ``mp-kvrh-all``'s
structures, so sizes and chemistries are those of a real screen). Each run is the real CLI in a subprocess with
the default local backend and an empty feature cache, so every crystal gets its E–V scan by the model's
potential; a sampler records the resident memory of the CLI process and its children every 0.5 s. Flat means
the peak does not grow with N and the last quarter of the rows peaks no higher than the first. Writes
benchmarks/results/predict_memory/predict_memory.json and .md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_scale import memory_by_quarter, run_predict

RESULTS = Path(__file__).resolve().parent / "results" / "predict_memory"
TARGET_MB = 1024


def write_real_jsonl(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` distinct structures of ``mp-kvrh-all`` (sampled with ``seed``), one JSON object per line."""
    from bulkmod.data import load_dataset

    ds = load_dataset("mp-kvrh-all")
    have = [i for i, s in enumerate(ds.partial_structures) if s is not None]
    if n > len(have):
        raise SystemExit(f"--sizes {n}: mp-kvrh-all has {len(have)} structures")
    rows = random.Random(seed).sample(have, n)
    with path.open("w") as f:
        for i in rows:
            f.write(json.dumps(ds.partial_structures[i].as_dict()) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--model", default="default")
    parser.add_argument("--batch-size", type=int, default=256, help="the CLI's default")
    args = parser.parse_args()
    from bulkmod.provenance import command_line, git_commit, load_average, machine

    runs = []
    with tempfile.TemporaryDirectory(prefix="bulkmod-memory-") as tmp:
        for n in args.sizes:
            stream = write_real_jsonl(Path(tmp) / f"mp{n}.jsonl", n)
            res = run_predict(stream, Path(tmp) / f"mp{n}.csv", None, args.batch_size, args.model, "local")
            res["memory_by_quarter"] = memory_by_quarter(res)
            runs.append(res)
            print(f"N={n}: peak {res['peak_total_rss_mb']} MB, {res['wall_s']} s", file=sys.stderr)
    peaks = [r["peak_total_rss_mb"] for r in runs]
    res = {
        "what": f"bulkmod predict --model {args.model} (local backend) on real MP crystals, cold feature cache",
        "model": args.model, "batch_size": args.batch_size, "target_mb": TARGET_MB,
        "peak_total_rss_mb_by_n": dict(zip(map(str, args.sizes), peaks, strict=True)),
        "max_peak_mb": max(peaks), "within_target": max(peaks) <= TARGET_MB,
        "largest_over_smallest_peak": round(peaks[-1] / peaks[0], 3), "runs": runs,
        "command": command_line(), "commit": git_commit(), "machine": machine(),
        "load_avg": load_average(),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict_memory.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = [
        f"# Peak memory of `bulkmod predict --model {args.model}` against N\n",
        f"Real MP crystals (seeded sample of mp-kvrh-all), batch {args.batch_size}, local backend, a fresh feature "
        f"cache per run (every crystal scanned by the model's potential). Target: flat and at most {TARGET_MB} MB.\n",
        "| N | peak RSS, CLI + children (MB) | peak, first / last quarter of rows (MB) | wall (s) | load before |",
        "|---|---|---|---|---|",
    ]
    for n, r in zip(args.sizes, runs, strict=True):
        q = r["memory_by_quarter"]
        lines.append(
            f"| {n} | {r['peak_total_rss_mb']:.0f} | {q[0]['peak_total_rss_mb']} / {q[-1]['peak_total_rss_mb']}"
            f" | {r['wall_s']} | {r['load_avg_before'][0]} |"
        )
    lines += ["", f"Command: `{res['command']}` at commit {res['commit']}; machine: {res['machine']}."]
    (RESULTS / "predict_memory.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
