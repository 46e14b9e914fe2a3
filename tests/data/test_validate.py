import math

from pymatgen.core import Composition, DummySpecies, Lattice, Structure

from bulkmod.data.validate import RawRow, build_dataset, structure_hash


def _nacl(a=5.64):
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_every_bad_row_is_reported_with_its_reason():
    disordered = Structure(Lattice.cubic(4), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    dummy = Structure(Lattice.cubic(4), [DummySpecies("X")], [[0, 0, 0]])
    overlap = Structure(Lattice.cubic(4), ["Na", "Cl"], [[0, 0, 0], [0.01, 0, 0]])
    rows = [
        RawRow("ok", "t", structure=_nacl(), k_vrh=25),
        RawRow("dis", "t", structure=disordered, k_vrh=100),
        RawRow("dum", "t", structure=dummy, k_vrh=100),
        RawRow("ovl", "t", structure=overlap, k_vrh=100),
        RawRow("nan", "t", structure=_nacl(), k_vrh=math.nan),
        RawRow("zero", "t", structure=_nacl(), k_vrh=0.0),
        RawRow("inf", "t", structure=_nacl(), k_vrh=math.inf),
        RawRow("ok", "t", structure=_nacl(5.7), k_vrh=24),
        RawRow("bad", "t", error="could not parse"),
    ]
    ds = build_dataset("t", rows)
    assert ds.ids == ["ok"]
    reasons = {p.row: p.reason for p in ds.report.rejected}
    assert "disordered" in reasons[1]
    assert "dummy" in reasons[2]
    assert "overlapping" in reasons[3]
    assert "NaN" in reasons[4] and "non-positive" in reasons[5] and "infinite" in reasons[6]
    assert "duplicate id" in reasons[7]
    assert reasons[8] == "could not parse"
    assert "9 rows read, 1 kept, 8 rejected" in ds.report.summary()


def test_duplicate_structures_are_flagged_not_dropped():
    ds = build_dataset(
        "t", [RawRow("a", "t", structure=_nacl(), k_vrh=25), RawRow("b", "t", structure=_nacl(), k_vrh=26)]
    )
    assert ds.ids == ["a", "b"]
    assert [p.rejected for p in ds.report.problems] == [False]


def test_atom_cap_names_the_setting(monkeypatch):
    monkeypatch.setenv("BULKMOD_MAX_ATOMS", "4")
    big = _nacl().make_supercell([2, 2, 1], in_place=False)
    ds = build_dataset("t", [RawRow("big", "t", structure=big, k_vrh=25)])
    assert "BULKMOD_MAX_ATOMS" in ds.report.rejected[0].reason


def test_structure_hash_ignores_site_order():
    s = _nacl()
    t = Structure(s.lattice, ["Cl", "Na"], [[0.5, 0.5, 0.5], [0, 0, 0]])
    assert structure_hash(s) == structure_hash(t)
    assert structure_hash(s) != structure_hash(_nacl(5.7))


def test_elements_past_the_tables_and_unphysical_density_are_refused(monkeypatch):
    og = Structure(Lattice.cubic(5.0), ["Og", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    squeezed = _nacl(1.02)  # 0.88 A apart: past the 0.5 A overlap limit, 170x denser
    ds = build_dataset("t", [RawRow("og", "t", structure=og, k_vrh=50), RawRow("sq", "t", structure=squeezed, k_vrh=50),
                             RawRow("ok", "t", structure=_nacl(), k_vrh=25)])  # fmt: skip
    reasons = [p.reason for p in ds.report.rejected]
    assert ds.ids == ["ok"]
    assert reasons[0] == "element Og (Z = 118) is beyond the elements bulkmod has data for (Z <= 103)"
    assert reasons[1].startswith("unphysically dense:") and "BULKMOD_MAX_NEIGHBORS" in reasons[1]
    monkeypatch.setenv("BULKMOD_MAX_NEIGHBORS", "100000")
    assert build_dataset("t", [RawRow("sq", "t", structure=squeezed, k_vrh=50)]).ids == ["sq"]


def test_repeated_materials_and_conflicting_targets_are_reported():
    rows = [
        RawRow("a", "t", structure=_nacl(), k_vrh=100),
        RawRow("b", "t", structure=_nacl(), k_vrh=300),
        RawRow("c", "t", structure=_nacl(), k_vrh=101),
        RawRow("f1", "t", composition=Composition("NaCl"), k_vrh=25, spacegroup=225),
        RawRow("f2", "t", composition=Composition("Na2Cl2"), k_vrh=75, spacegroup=225),
        RawRow("f3", "t", composition=Composition("NaCl"), k_vrh=75, spacegroup=221),  # another space group
    ]
    ds = build_dataset("t", rows)
    assert len(ds) == 6 and not ds.report.rejected
    flags = {p.id: p.reason for p in ds.report.flagged}
    assert flags["b"] == "duplicate structure of a (kept in its CV fold); conflicting targets: 300 vs 100 GPa"
    assert flags["c"] == "duplicate structure of a (kept in its CV fold)"  # 100 vs 101: within label noise
    assert flags["f2"] == "same formula and space group as f1; conflicting targets: 75 vs 25 GPa"
    assert set(flags) == {"b", "c", "f2"}
    assert ds.report.summary().endswith("(duplicate structure: 2, same formula and space group: 1)")  # kinds, not rows
