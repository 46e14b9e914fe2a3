"""Would a tighter K′ plausibility window make CHGNet's zero-shot K₀ better? (investigation, not a benchmark)

    python benchmarks/exploration/kprime_window.py

The E–V fit accepts K′ in ``K_PRIME_RANGE`` (0, 30) and refits with K′ = 4 outside it. Real solids have
K′ of about 3.5-6, so a window like (1.5, 12) looks safer. This reads the cached fits of mp-binary-2025 (no new
scans) and tabulates the zero-shot error against DFT by fitted K′: if the fits with implausible K′ are not
worse, tightening the window would only move numbers around. Writes
``benchmarks/results/kprime_window/kprime_window_exploration.json``.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np

from bulkmod.data import load_dataset
from bulkmod.physics.eos import K_PRIME_RANGE
from bulkmod.physics.features import eos_results
from bulkmod.provenance import command_line, git_commit, machine

OUT = Path(__file__).resolve().parents[1] / "results" / "kprime_window" / "kprime_window_exploration.json"
EDGES = [0.0, 1.5, 2.5, 3.5, 6.0, 8.0, 12.0, 30.0]


def main() -> None:
    ds = load_dataset("mp-binary-2025")
    fits = eos_results(ds.structures)
    flag = np.array([r.flag for r in fits])
    kp = np.array([r.k_prime for r in fits])
    err = np.array([np.log10(r.k0_gpa) if r.usable else np.nan for r in fits]) - ds.y_log10

    def row(label: str, mask: np.ndarray) -> dict:
        e = err[mask]
        return {"k_prime": label, "n": int(mask.sum()), "mae_log10": float(np.mean(np.abs(e))),
                "bias_log10": float(np.mean(e)), "median_k_gpa": float(np.median(ds.k_vrh[mask]))}  # fmt: skip

    rows = [row(f"{lo}-{hi}", (flag == "ok") & (kp > lo) & (kp <= hi)) for lo, hi in pairwise(EDGES)]
    rows.append(row(f"outside {K_PRIME_RANGE}: refit with K' = 4", flag == "k-prime-fixed"))
    report = {"command": command_line(), "commit": git_commit(), "machine": machine(), "n": len(ds),
              "k_prime_range": list(K_PRIME_RANGE), "rows": rows}  # fmt: skip
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    for r in rows:
        print(f"{r['k_prime']:>36}  n {r['n']:5d}  MAE {r['mae_log10']:.3f}  bias {r['bias_log10']:+.3f}")


if __name__ == "__main__":
    main()
