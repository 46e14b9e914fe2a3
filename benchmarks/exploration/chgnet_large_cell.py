"""Why CHGNet batches are capped by atoms and cells over 200 sites are not scanned (investigation).

    python benchmarks/exploration/chgnet_large_cell.py

Times CHGNet energies of strained copies of a 500-atom fcc Cu cell (the fuzz test's largest good input) in
one call, 1 then 3 copies, with the process's peak RSS after each, bypassing the 500-atom batch cap.
Writes ``benchmarks/results/chgnet_large_cell/chgnet_large_cell_exploration.json``.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

from pymatgen.core import Lattice, Structure

from bulkmod.physics import potentials
from bulkmod.physics.potentials import strained
from bulkmod.provenance import command_line, git_commit, load_average, machine

OUT = Path(__file__).resolve().parents[1] / "results" / "chgnet_large_cell" / "chgnet_large_cell_exploration.json"


def main() -> None:
    cu = Structure(Lattice.cubic(3.615), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    big = cu.make_supercell([5, 5, 5], in_place=False)
    potentials.atom_batches = lambda items, **_: [items]  # measure one uncapped call
    pot = potentials.get_potential("chgnet")
    rows = []
    for copies in (1, 3):
        t = time.perf_counter()
        pot.energies([strained(big, 1 + 0.02 * i) for i in range(copies)])
        rows.append({"copies": copies, "atoms": copies * len(big), "wall_s": round(time.perf_counter() - t, 1),
                     "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)})  # fmt: skip
        print(rows[-1])
    report = {"command": command_line(), "commit": git_commit(), "machine": machine(),
              "load_avg_end": load_average(), "rows": rows}  # fmt: skip
    OUT.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
