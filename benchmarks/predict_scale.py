"""Screening throughput and memory of `bulkmod predict` on Ray: 1 vs 2 workers, and a 20,000-crystal stream.

    python benchmarks/predict_scale.py [--n-scale 4000] [--n-stream 20000] [--batch-size 250]

Inputs are JSON-lines streams of perturbed copies of the shipped example crystals (every row distinct, so every
run featurises cold; each run gets an empty feature cache). Each run is the real CLI in a subprocess; a sampler
records the committed rows, the resident memory of the CLI process and of its Ray processes, and their CPU
time every 0.5 s; the machine-wide CPU use then shows how many cores other jobs took during the run.
Throughput is reported over the whole run (incl. starting Ray) and in steady state (first to last committed
batch). Writes benchmarks/results/predict_scale/predict_scale.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bulkmod.provenance import command_line, git_commit, load_average, machine

RESULTS = Path(__file__).resolve().parent / "results" / "predict_scale"
SAMPLE_S = 0.5


def _sample(proc: psutil.Process, cpu_s: dict[int, float]) -> tuple[float, float]:
    """(CLI process, CLI + every descendant: raylet, GCS, object store, workers) resident MB; records CPU seconds."""
    own = total = 0.0
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    for p in family:
        try:
            rss, times = p.memory_info().rss, p.cpu_times()
        except psutil.Error:
            continue
        cpu_s[p.pid] = times.user + times.system
        total += rss
        own = rss if p is proc else own
    return own / 2**20, total / 2**20


def _rows(progress: Path) -> int:
    try:
        return json.loads(progress.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return 0


def run_predict(
    stream: Path, out: Path, workers: int | None, batch_size: int, model: str = "fast", backend: str = "ray"
) -> dict:
    """One `bulkmod predict` run with a fresh feature cache, sampled as it goes (``workers``: Ray CPUs)."""
    env = os.environ | {"BULKMOD_CACHE": str(out.with_name(out.stem + "-cache"))}
    cmd = [sys.executable, "-m", "bulkmod.cli", "predict", str(stream), "--out", str(out), "--backend", backend,
           "--batch-size", str(batch_size), "--model", model]  # fmt: skip
    cmd += ["--workers", str(workers)] if workers else []
    progress = out.with_name(out.stem + ".progress.json")
    load_before = load_average()
    psutil.cpu_percent(None)  # start the machine-wide CPU average here
    cpu_s: dict[int, float] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    samples = []
    while proc.poll() is None:
        own, total = _sample(ps, cpu_s)
        samples.append({"t": round(time.perf_counter() - t0, 2), "rows": _rows(progress),
                        "cli_rss_mb": round(own, 1), "total_rss_mb": round(total, 1)})  # fmt: skip
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - t0
    busy_cores = psutil.cpu_percent(None) / 100 * psutil.cpu_count()
    ours_cores = sum(cpu_s.values()) / wall
    if proc.returncode != 0:
        raise SystemExit(f"predict failed: {proc.stderr.read().decode()[-2000:]}")
    run = json.loads(out.with_name(out.stem + ".run.json").read_text())
    moving = [s for s in samples if s["rows"] > 0]
    first, last = moving[0], moving[-1]
    steady = (last["rows"] - first["rows"]) / max(last["t"] - first["t"], 1e-9) if len(moving) > 1 else None
    return {
        "workers": workers, "n": run["n_rows"], "n_ok": run["n_ok"], "n_tasks": run["n_tasks"],
        "wall_s": round(wall, 2), "structures_per_s": round(run["n_rows"] / wall, 1),
        "steady_structures_per_s": round(steady, 1) if steady else None,
        "load_avg_before": load_before, "load_avg_after": load_average(),
        "cores_busy_machine": round(busy_cores, 2), "cores_used_by_run": round(ours_cores, 2),
        "cores_used_by_other_jobs": round(max(busy_cores - ours_cores, 0.0), 2),
        "structures_per_cpu_s": round(run["n_rows"] / max(sum(cpu_s.values()), 1e-9), 1),
        "peak_cli_rss_mb": max(s["cli_rss_mb"] for s in samples),
        "peak_total_rss_mb": max(s["total_rss_mb"] for s in samples), "samples": samples,
    }  # fmt: skip


def memory_by_quarter(res: dict) -> list[dict]:
    """Peak memory within each quarter of the rows: flat if the last quarter is no higher than the first."""
    n, rows = res["n"], []
    for q in range(4):
        lo, hi = q * n / 4, (q + 1) * n / 4
        inside = [s for s in res["samples"] if lo <= s["rows"] < hi or (q == 3 and s["rows"] >= hi)]
        rows.append({"rows": f"{int(lo)}-{int(hi)}",  # None: no sample fell in a quarter of a short run
                     "peak_cli_rss_mb": max((s["cli_rss_mb"] for s in inside), default=None),
                     "peak_total_rss_mb": max((s["total_rss_mb"] for s in inside), default=None)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-scale", type=int, default=4000)
    parser.add_argument("--n-stream", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args()
    from bulkmod.data.synthetic import write_jsonl

    with tempfile.TemporaryDirectory(prefix="bulkmod-scale-") as tmp:
        work = Path(tmp)
        scale_in = write_jsonl(work / "scale.jsonl", args.n_scale, seed=0)
        stream_in = write_jsonl(work / "stream.jsonl", args.n_stream, seed=1)
        scaling = [run_predict(scale_in, work / f"scale_w{w}.csv", w, args.batch_size) for w in (1, 2)]
        same = (work / "scale_w1.csv").read_bytes() == (work / "scale_w2.csv").read_bytes()
        stream = run_predict(stream_in, work / "stream.csv", 2, args.batch_size)
    quarters = memory_by_quarter(stream)
    ratio = scaling[1]["structures_per_s"] / scaling[0]["structures_per_s"]
    steady_ratio = scaling[1]["steady_structures_per_s"] / scaling[0]["steady_structures_per_s"]
    per_cpu_ratio = scaling[1]["structures_per_cpu_s"] / scaling[0]["structures_per_cpu_s"]
    res = {
        "what": "bulkmod predict --backend ray on JSON-lines streams of perturbed example crystals, cold features",
        "batch_size": args.batch_size, "scaling": scaling, "scaling_ratio_2_vs_1": round(ratio, 2),
        "steady_scaling_ratio_2_vs_1": round(steady_ratio, 2),
        "per_cpu_s_ratio_2_vs_1": round(per_cpu_ratio, 2), "outputs_identical_1_vs_2_workers": same,
        "stream": stream, "stream_memory_by_quarter": quarters,
        "command": command_line(), "commit": git_commit(), "machine": machine(),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict_scale.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = [
        "# Screening on Ray: throughput (1 vs 2 workers) and memory over a long stream\n",
        f"Same {args.n_scale} perturbed crystals, batch {args.batch_size}, a fresh feature cache per run; "
        f"outputs of the two runs identical: {same}.\n",
        "| workers | wall (s) | structures/s (whole run) | structures/s (steady) | load avg before -> after "
        "| cores used by this run | cores used by other jobs | structures per CPU-second of this run |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['workers']} | {r['wall_s']} | {r['structures_per_s']} | {r['steady_structures_per_s']} | "
            f"{r['load_avg_before'][0]} -> {r['load_avg_after'][0]} | {r['cores_used_by_run']} | "
            f"{r['cores_used_by_other_jobs']} | {r['structures_per_cpu_s']} |"
            for r in scaling
        ],
        f"\nScaling ratio 2 vs 1 workers: {ratio:.2f} (whole run), {steady_ratio:.2f} (steady state). "
        f"On a shared machine the rate follows the cores other jobs leave free; per CPU-second actually used, "
        f"2 workers do {per_cpu_ratio:.2f}x the work of 1 (1.00 = no parallel overhead).\n",
        f"## Memory over a {stream['n']}-crystal stream (2 workers)\n",
        f"{stream['wall_s']} s, {stream['structures_per_s']} structures/s, {stream['n_ok']} predicted.\n",
        "| rows | peak RSS CLI process (MB) | peak RSS CLI + Ray processes (MB) |",
        "|---|---|---|",
        *[f"| {q['rows']} | {q['peak_cli_rss_mb']} | {q['peak_total_rss_mb']} |" for q in quarters],
        f"\n`{res['command']}` at {res['commit']} on {res['machine']}.\n",
    ]
    (RESULTS / "predict_scale.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
