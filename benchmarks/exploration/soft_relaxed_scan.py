"""Why the zero-shot E–V modulus fails on soft crystals: clamped-ion vs relaxed-ion scans (CHGNet).

    python benchmarks/exploration/soft_relaxed_scan.py [--n 12]

The production scan strains a crystal isotropically at fixed fractional coordinates (clamped ions). In a
layered or molecular crystal that strain goes into the stiff bonds inside a layer or molecule instead of
the soft gap between them, so K comes out many times too high. This script takes the softest crystals
(K_DFT < 10 GPa, ≤ 12 sites, every k-th by K), and for each compares: the clamped-ion scan; and a
relaxed-ion scan (cell relaxed at zero pressure, then ions + cell shape relaxed at each fixed volume,
matcalc ``RelaxCalc`` with a constant-volume ``FrechetCellFilter``). Writes
``benchmarks/results/soft_relaxed_scan/soft_relaxed_scan.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings
from pathlib import Path

import numpy as np

from bulkmod.data import load_dataset
from bulkmod.io import write_json_atomic
from bulkmod.physics.eos import ScanConfig, fit_birch_murnaghan, scan_chunk
from bulkmod.physics.potentials import get_potential, strained
from bulkmod.provenance import command_line, git_commit, machine

RESULTS = Path(__file__).resolve().parents[1] / "results" / "soft_relaxed_scan"


def relaxed_ion_scan(structure, pot, grid: np.ndarray):
    from matcalc import RelaxCalc

    free = RelaxCalc(pot.calculator(), fmax=0.05, max_steps=200, relax_cell=True)
    fixed_v = RelaxCalc(
        pot.calculator(), fmax=0.05, max_steps=150, relax_cell=True, cell_filter_kwargs={"constant_volume": True}
    )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s0 = free.calc(structure)["final_structure"]
        energies = np.array([fixed_v.calc(strained(s0, r))["energy"] / len(s0) for r in grid])
    return fit_birch_murnaghan(grid, energies, s0.volume / len(s0), 1), s0.volume / structure.volume


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=12)
    args = ap.parse_args()
    ds = load_dataset("mp-binary-2025")
    soft = [i for i in np.argsort(ds.k_vrh) if ds.k_vrh[i] < 10 and len(ds.structures[i]) <= 12]
    pick = soft[:: max(1, len(soft) // args.n)][: args.n]
    pot = get_potential("chgnet")
    grid = 1 + np.linspace(-0.06, 0.06, 7)
    rows = []
    for i in pick:
        t = time.perf_counter()
        clamped = scan_chunk([ds.structures[i]], pot, ScanConfig())[0]
        relaxed, v_ratio = relaxed_ion_scan(ds.structures[i], pot, grid)
        rows.append(
            {
                "id": ds.ids[i],
                "formula": ds.compositions[i].reduced_formula,
                "n_sites": len(ds.structures[i]),
                "k_dft_gpa": round(float(ds.k_vrh[i]), 2),
                "clamped_k0_gpa": round(clamped.k0_gpa, 2),
                "clamped_flag": clamped.flag,
                "relaxed_k0_gpa": round(relaxed.k0_gpa, 2),
                "relaxed_flag": relaxed.flag,
                "relaxed_volume_ratio": round(v_ratio, 3),
                "seconds": round(time.perf_counter() - t, 1),
            }
        )
        print(rows[-1], flush=True)

    def mae(key: str, flag: str) -> tuple[float, int]:
        ok = [r for r in rows if r[flag] in ("ok", "k-prime-fixed")]
        return float(np.mean([abs(np.log10(r[key] / r["k_dft_gpa"])) for r in ok])) if ok else np.nan, len(ok)

    summary = {"clamped": mae("clamped_k0_gpa", "clamped_flag"), "relaxed": mae("relaxed_k0_gpa", "relaxed_flag")}
    out = {"rows": rows, "mae_log10_usable": summary, "command": command_line(), "commit": git_commit(),
           "machine": machine()}  # fmt: skip
    write_json_atomic(RESULTS / "soft_relaxed_scan.json", out)
    lines = [
        "# Soft crystals (K < 10 GPa): clamped-ion vs relaxed-ion E–V scans, CHGNet 0.3.0",
        "",
        "| id | formula | sites | K DFT | clamped K₀ (flag) | relaxed-ion K₀ (flag) | V relaxed / V DFT | s |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['id']} | {r['formula']} | {r['n_sites']} | {r['k_dft_gpa']} | {r['clamped_k0_gpa']} "
            f"({r['clamped_flag']}) | {r['relaxed_k0_gpa']} ({r['relaxed_flag']}) | {r['relaxed_volume_ratio']} "
            f"| {r['seconds']} |"
            for r in rows
        ),
        "",
        f"MAE log10 over usable fits: clamped {summary['clamped'][0]:.3f} (n {summary['clamped'][1]}), "
        f"relaxed-ion {summary['relaxed'][0]:.3f} (n {summary['relaxed'][1]}).",
        "",
        f"Made by `{out['command']}` at {out['commit']} on {out['machine']}.",
    ]
    (RESULTS / "soft_relaxed_scan.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
