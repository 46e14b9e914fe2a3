"""Input fuzzing: hundreds of corrupted structure files through `predict` and `data validate`.

Zero tracebacks; every bad file gets an error and an empty K; every good file in the same batch keeps its K.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from bulkmod.data import load_csv
from bulkmod.models.pretrained import DEFAULT_MODEL, PRETRAINED_DIR, load_model
from bulkmod.prediction import predict_files

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.skipif(not (PRETRAINED_DIR / DEFAULT_MODEL).exists(), reason="default model not built")


def _poscar(lattice: str, species: str, counts: str, coords: list[str]) -> str:
    return f"fuzz\n1.0\n{lattice}\n{species}\n{counts}\ndirect\n" + "\n".join(coords) + "\n"


def make_corpus(root: Path, seed: int = 0) -> list[tuple[Path, str, str]]:
    """(path, category, expectation) with expectation 'good', 'bad' or 'either' (must still be consistent)."""
    rng = random.Random(seed)
    base = [(p, p.read_text()) for p in sorted(EXAMPLES.glob("*.cif"))]
    cu = Structure(Lattice.cubic(3.615), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    out: list[tuple[Path, str, str]] = []

    def add(name: str, text: str | bytes, category: str, expect: str) -> None:
        path = root / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        out.append((path, category, expect))

    for i in range(120):  # truncated at a random byte
        _, text = base[i % len(base)]
        add(f"trunc{i}.cif", text[: rng.randrange(1, len(text))], "truncated", "either")
    for i in range(80):  # numbers replaced by junk
        _, text = base[i % len(base)]
        junk = rng.choice(["abc", "nan", "1e999", "-", "?", "0x1F", "1..2"])
        add(
            f"num{i}.cif",
            re.sub(r"\d+\.\d+", lambda m, junk=junk: junk if rng.random() < 0.5 else m.group(0), text),
            "wrong numbers",
            "either",
        )
    for i in range(40):
        _, text = base[i % len(base)]
        add(
            f"nolat{i}.cif",
            "\n".join(ln for ln in text.splitlines() if not ln.startswith("_cell_length")),
            "missing lattice",
            "bad",
        )
    for i in range(40):  # degenerate cells: zero, negative (left-handed is fine), collinear vectors
        a = rng.choice(["0 0 0", "1 0 0"])
        lat = f"{a}\n1 0 0\n0 0 1" if i % 2 else "0 0 0\n0 0 0\n0 0 0"
        add(f"POSCAR_vol{i}", _poscar(lat, "Na", "1", ["0 0 0"]), "zero volume", "bad")
    for i in range(40):
        lat = "4 0 0\n0 4 0\n0 0 4"
        add(
            f"POSCAR_ovl{i}",
            _poscar(lat, "Na Cl", "1 1", ["0 0 0", f"{rng.uniform(0, 0.05):.4f} 0 0"]),
            "overlapping atoms",
            "bad",
        )
    for i in range(40):
        sym = rng.choice(["Xx", "Qq", "Zz", "D0"])
        add(f"POSCAR_dummy{i}", _poscar("4 0 0\n0 4 0\n0 0 4", sym, "1", ["0 0 0"]), "unknown species", "bad")
    for i in range(40):
        s = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
        add(f"partial{i}.cif", s.to(fmt="cif"), "partial occupancy", "bad")
    for i in range(20):
        s = Structure(Lattice.cubic(rng.uniform(2.5, 3.5)), [rng.choice(["Cu", "Al", "Ni", "Fe"])], [[0, 0, 0]])
        add(f"one{i}.cif", s.to(fmt="cif"), "1-atom cell", "good")
    for i in range(5):
        add(f"big{i}.cif", cu.make_supercell([5, 5, 5], in_place=False).to(fmt="cif"), "500-atom cell", "good")
        add(
            f"huge{i}.cif",
            cu.make_supercell([6, 6, 4], in_place=False).to(fmt="cif"),
            "576-atom cell (over cap)",
            "bad",
        )
    for i in range(20):
        s = Structure(Lattice.cubic(rng.uniform(25, 40)), ["Ar"], [[0, 0, 0]])
        add(f"lonely{i}.cif", s.to(fmt="cif"), "no neighbour in cut-off", "bad")
    for i in range(80):
        ext = rng.choice([".cif", ".extxyz", ".vasp", ".json"])
        add(f"junk{i}{ext}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))), "binary junk", "bad")
    for i in range(20):
        add(
            f"nocell{i}.extxyz",
            "2\nProperties=species:S:1:pos:R:3\nNa 0 0 0\nCl 2.8 0 0\n",
            "extxyz without cell",
            "bad",
        )
    for i in range(20):
        add(f"empty{i}.cif", "", "empty file", "bad")
    for p in sorted(EXAMPLES.iterdir()):
        add(f"good_{p.name}", p.read_bytes(), "good example", "good")
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("fuzz"))


def test_predict_survives_the_corpus(corpus, summary):
    assert len(corpus) >= 500
    df = predict_files([p for p, _, _ in corpus], load_model(None))
    assert len(df) == len(corpus)
    counts: Counter = Counter()
    for (path, category, expect), row in zip(corpus, df.itertuples(), strict=True):
        has_k, has_err = np.isfinite(row.k_vrh_gpa), bool(row.error)
        assert has_k != has_err, (path.name, row.k_vrh_gpa, row.error)  # exactly one of K or error
        if expect == "good":
            assert has_k and 0.1 < row.k_vrh_gpa < 1000, (path.name, row.error)
        if expect == "bad":
            assert has_err and np.isnan(row.k_vrh_low_gpa), (path.name, row.k_vrh_gpa)
        counts[(category, "K" if has_k else "error")] += 1
    outcome = ", ".join(f"{cat} -> {what}: {n}" for (cat, what), n in sorted(counts.items()))
    summary["fuzz corpus (predict)"] = (
        f"{len(corpus)} files, {sum(1 for _, _, e in corpus if e != 'good')} corrupted; {outcome}"
    )


def test_data_validate_reports_every_bad_row(corpus, tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("id,structure_file,k_vrh\n" + "\n".join(f"r{i},{p},100" for i, (p, _, _) in enumerate(corpus)))
    ds = load_csv(csv)
    assert len(ds) + len({p.row for p in ds.report.rejected}) == len(corpus)
    rejected = {p.row for p in ds.report.rejected}
    for i, (_, _, expect) in enumerate(corpus):
        if expect == "bad":
            assert i in rejected
    r = subprocess.run([sys.executable, "-m", "bulkmod.cli", "data", "validate", str(csv), "--show", "1000"],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr + r.stdout
    assert r.stdout.count("rejected:") == len(ds.report.rejected)


def test_cli_predict_on_a_mixed_batch_has_no_traceback(corpus, tmp_path):
    sample = [str(p) for p, _, _ in corpus[::7]]
    r = subprocess.run([sys.executable, "-m", "bulkmod.cli", "predict", *sample, "--out", str(tmp_path / "o.csv")],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr + r.stdout
