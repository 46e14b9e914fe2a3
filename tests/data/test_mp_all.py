"""The mp-kvrh-all join on tiny source files laid out like shared/data, plus one check on the real data."""

from __future__ import annotations

import bz2
import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

from bulkmod.cli import main
from bulkmod.data import load_dataset, mp_all
from bulkmod.data.loaders import (
    ELASTIC_2015_FILE,
    MATBENCH_KVRH_COMP_FILE,
    MP_BINARY_2025_FILE,
    MP_EXTRA_TENSORS_FILE,
)
from bulkmod.data.mp_all import matbench_linked_rows
from bulkmod.data.records import Dataset
from bulkmod.data.validate import structure_hash
from bulkmod.errors import BulkmodError
from bulkmod.features import FeatureConfig, featurize
from bulkmod.io import shared_data_dir
from bulkmod.models import build_model


def rocksalt(a: str, b: str, lat: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(lat), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])


def cscl(a: str, b: str, lat: float) -> Structure:
    return Structure(Lattice.cubic(lat), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])


def cubic_tensor(c11: float, c12: float, c44: float) -> list[list[float]]:
    t = np.zeros((6, 6))
    t[:3, :3] = c12
    np.fill_diagonal(t[:3, :3], c11)
    t[3:, 3:] = np.eye(3) * c44
    return t.tolist()


PEROVSKITE_SITES = [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
SRTIO3 = Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"], PEROVSKITE_SITES)
MP_2025 = [  # (mp_id, structure, K_VRH GPa)
    ("mp-1", rocksalt("Mg", "O", 4.21), 160.0),
    ("mp-2", rocksalt("Ca", "O", 4.81), 110.0),
    ("mp-3", rocksalt("Na", "Cl", 5.64), 25.0),
    ("mp-4", Structure.from_spacegroup("F-43m", Lattice.cubic(5.4), ["Zn", "S"], [[0, 0, 0], [0.25] * 3]), 0.0),
    ("mp-6", rocksalt("K", "Cl", 6.29), 17.0),
    ("mp-16", rocksalt("K", "Cl", 6.0), 20.0),
]
ELASTIC_2015 = [  # (material_id, structure, K_VRH GPa, space group)
    ("mp-1", rocksalt("Mg", "O", 4.22), 161.0, 225),
    ("mp-3", rocksalt("Na", "Cl", 5.60), 35.0, 225),
    ("mp-8", SRTIO3, 179.0, 221),
]
BROKEN_NEGATIVE = [  # a tensor whose K_VRH comes out negative (the real broken row of mp_val_clean.json)
    [63, 9, 36, 0, 21, 0], [9, 22, 59, 0, -18, 0], [36, 59, 116, 0, -5, 0],
    [0, 0, 0, 29, 0, -5], [21, -18, -5, 0, 42, 0], [0, 0, 0, -5, 0, -1],
]  # fmt: skip
EXTRA = [  # (material_id, structure, Voigt tensor)
    ("mp-1", rocksalt("Mg", "O", 4.25), cubic_tensor(297, 95, 155)),
    ("mp-9", cscl("Cs", "Cl", 4.12), cubic_tensor(50, 10, 8)),
    ("mp-90", cscl("Rb", "Br", 4.0), BROKEN_NEGATIVE),
    ("mp-91", cscl("Tl", "Br", 3.97), cubic_tensor(40, 40, 5)),  # c11 = c12: singular
    ("mp-92", cscl("Tl", "Cl", 3.84), cubic_tensor(60, 20, -1)),  # c44 < 0: unstable, kept with a flag
]
MATBENCH = [  # (composition, space group, K_VRH GPa); mbid mb-log-kvrh-0000{i+1}
    ("MgO", 225, 161.0),  # joins mp-1
    ("KCl", 225, 18.0),  # two KCl rocksalts hold the key: ambiguous
    ("LiF", 225, 70.0),  # no structure: its own row
    ("SrTiO3", 221, 178.0),  # joins mp-8 (elastic_tensor_2015 only)
    ("CaO", 225, 111.0),  # two matbench rows share CaO 225: ambiguous both
    ("CaO", 225, 112.0),
    ("MgO", 186, 140.0),  # another space group: its own row
    ("NaCl", 225, 25.5),  # joins mp-3, whose two MP values conflict
]
MBIDS = [f"mb-log-kvrh-{i + 1:05d}" for i in range(len(MATBENCH))]
SAME_CRYSTAL = {  # per matbench row, the materials that may be the same crystal (what must not leak)
    MBIDS[0]: {"mp-1"}, MBIDS[1]: {"mp-6", "mp-16"}, MBIDS[3]: {"mp-8"},
    MBIDS[4]: {"mp-2"}, MBIDS[5]: {"mp-2"}, MBIDS[7]: {"mp-3"},
}  # fmt: skip


def write_matbench(root, rows) -> None:
    cols = {
        "mbid": {str(i): mbid for i, mbid in enumerate(MBIDS[: len(rows)])},
        "log10(K_VRH)": {str(i): math.log10(k) for i, (_, _, k) in enumerate(rows)},
        "composition": {str(i): c for i, (c, _, _) in enumerate(rows)},
        "spg_num": {str(i): sg for i, (_, sg, _) in enumerate(rows)},
        "crys_sys": {str(i): "cubic" for i in range(len(rows))},
    }
    with bz2.open(root / MATBENCH_KVRH_COMP_FILE, "wt") as fh:
        json.dump(cols, fh)


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A data folder with the four source files (tiny), and a private cache; returns the data folder."""
    root = tmp_path / "data"
    for rel in (MP_BINARY_2025_FILE, ELASTIC_2015_FILE, MP_EXTRA_TENSORS_FILE, MATBENCH_KVRH_COMP_FILE):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
    mp = [
        {"mp_id": i, "formula": s.formula, "structure": s.as_dict(), "bulk_modulus_vrh": k, "shear_modulus_vrh": k / 2}
        for i, s, k in MP_2025
    ]
    with gzip.open(root / MP_BINARY_2025_FILE, "wt") as fh:
        json.dump(mp, fh)
    et = pd.DataFrame(
        [{"material_id": i, "poscar": str(Poscar(s)), "K_VRH": k, "G_VRH": k / 2, "space_group": sg}
         for i, s, k, sg in ELASTIC_2015]
    )  # fmt: skip
    with open(root / ELASTIC_2015_FILE, "w") as fh:
        fh.write("# ref: a comment line, as in the real file\n")
        et.to_csv(fh, index=False)
    extra = {
        "material_id": {i: i for i, _, _ in EXTRA},
        "cif": {i: str(CifWriter(s)) for i, s, _ in EXTRA},
        "elasticity.elastic_tensor": {i: t for i, _, t in EXTRA},
    }
    (root / MP_EXTRA_TENSORS_FILE).write_text(json.dumps(extra))
    write_matbench(root, MATBENCH)
    monkeypatch.setenv("BULKMOD_DATA", str(root))
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path / "cache"))
    return root


@pytest.fixture
def joined(sources) -> Dataset:
    return load_dataset("mp-kvrh-all")


def row(ds: Dataset, rid: str) -> dict:
    i = ds.ids.index(rid)
    return {"k": ds.k_vrh[i], "structure": ds.row_structures[i], "sg": int(ds.spacegroup[i]), **ds.meta.iloc[i]}


def reasons(ds: Dataset, rid: str) -> list[str]:
    return [p.reason for p in ds.report.problems if p.id == rid]


def test_same_mp_id_in_several_sources_is_one_row_with_the_newest_k(joined):
    assert joined.ids.count("mp-1") == 1
    r = row(joined, "mp-1")
    assert r["sources"] == "mp_elasticity_2025;mp_elastic_tensors_extra;elastic_tensor_2015;matbench"
    assert r["k_source"] == "mp_elasticity_2025" and r["k"] == 160.0
    assert r["k_elastic_tensor_2015"] == 161.0 and r["k_matbench"] == pytest.approx(161.0)
    assert r["k_mp_elastic_tensors_extra"] == pytest.approx((297 + 2 * 95) / 3)  # K_VRH of a cubic tensor
    assert structure_hash(r["structure"]) == structure_hash(MP_2025[0][1])  # the structure of the chosen source
    assert r["mbid"] == MBIDS[0] and r["sg"] == 225 and r["n_elements"] == 2


def test_matbench_row_joins_the_unique_structure_with_its_formula_and_space_group(joined):
    r = row(joined, "mp-8")
    assert r["sources"] == "elastic_tensor_2015;matbench" and r["mbid"] == MBIDS[3] and r["sg"] == 221
    assert r["k"] == 179.0 and r["structure"] is not None and r["n_elements"] == 3
    for mbid in (MBIDS[2], MBIDS[6]):  # LiF (no structure held), MgO in space group 186 (not mp-1's 225)
        r = row(joined, mbid)
        assert r["sources"] == "matbench" and r["structure"] is None and r["ambiguous_with"] == ""
        assert not reasons(joined, mbid)
    assert row(joined, MBIDS[6])["sg"] == 186
    # 8 materials with a structure (mp-4's K <= 0 and two broken tensors are rejected), 5 matbench rows of their own
    assert len(joined) == 13 and joined.structure_mask.sum() == 8 and not joined.has_structures


def test_ambiguous_matches_are_flagged_and_stay_own_rows_without_structure(joined):
    kcl = row(joined, MBIDS[1])
    assert kcl["structure"] is None and kcl["ambiguous_with"] == "mp-6;mp-16" and kcl["k_source"] == "matbench"
    [reason] = reasons(joined, MBIDS[1])
    assert reason.startswith("ambiguous match: KCl in space group 225") and "mp-6, mp-16" in reason
    assert row(joined, "mp-6")["mbid"] == "" and row(joined, "mp-16")["sources"] == "mp_elasticity_2025"
    for mbid in (MBIDS[4], MBIDS[5]):  # two matbench CaO rows, one CaO structure: neither is matched to it
        assert row(joined, mbid)["ambiguous_with"] == "mp-2" and row(joined, mbid)["structure"] is None
        assert any(f"{MBIDS[4]}, {MBIDS[5]}" in r for r in reasons(joined, mbid))
    assert row(joined, "mp-2")["sources"] == "mp_elasticity_2025"
    assert all(not p.rejected for p in joined.report.problems if p.reason.startswith("ambiguous"))


def test_conflicting_sources_are_flagged_with_every_value(joined):
    r = row(joined, "mp-3")
    assert r["k"] == 25.0 and r["k_elastic_tensor_2015"] == 35.0 and r["k_matbench"] == pytest.approx(25.5)
    [p] = [p for p in joined.report.problems if p.id == "mp-3"]
    assert not p.rejected and p.source == "mp-kvrh-all" and joined.ids[p.row] == "mp-3"
    assert p.reason.startswith(f"conflict: log10 K differs by {math.log10(35 / 25):.3f} > 0.05")
    assert "mp_elasticity_2025 25 GPa" in p.reason and "elastic_tensor_2015 35 GPa" in p.reason
    assert not reasons(joined, "mp-1")  # 160 / 161 / 162 GPa agree within 0.05 log10


def test_broken_tensors_and_non_positive_k_are_reported_not_dropped_silently(joined):
    rejected = {p.id: p for p in joined.report.rejected}
    assert set(rejected) == {"mp-4", "mp-90", "mp-91"}
    assert "non-positive modulus" in rejected["mp-4"].reason and rejected["mp-4"].source.endswith(".json.gz")
    assert rejected["mp-90"].reason.startswith("broken elastic tensor: K_VRH -")
    assert "singular" in rejected["mp-91"].reason and rejected["mp-91"].source == "mp_val_clean.json"
    assert not {"mp-4", "mp-90", "mp-91"} & set(joined.ids)
    assert reasons(joined, "mp-92")[0].startswith("elastic tensor not positive definite") and "mp-92" in joined.ids
    rep = joined.report
    assert rep.n_read == len(MP_2025) + len(ELASTIC_2015) + len(EXTRA) + len(MATBENCH) and rep.n_rejected == 3
    assert rep.summary().startswith(f"{rep.n_read} rows read, {rep.n_read - 3} kept, 3 rejected, joined into 13 rows")


def test_data_validate_lists_every_problem_with_its_reason(sources, capsys):
    assert main(["data", "validate", "mp-kvrh-all", "--show", "100"]) == 0
    out = capsys.readouterr().out
    for text in ("conflict: 1", "ambiguous match: 3", "broken elastic tensor: 2", "non-positive modulus 0 GPa: 1"):
        assert text in out
    assert "mp_val_clean.json: row 2 (mp-90): rejected: broken elastic tensor" in out


def test_cache_is_reused_round_trips_and_is_rebuilt_when_a_source_changes(sources, monkeypatch):
    builds = []
    build = mp_all.build_mp_kvrh_all
    monkeypatch.setattr(mp_all, "build_mp_kvrh_all", lambda: builds.append(1) or build())
    fresh = load_dataset("mp-kvrh-all")
    cached = load_dataset("mp-kvrh-all")
    assert len(builds) == 1
    assert cached.ids == fresh.ids and cached.compositions == fresh.compositions
    assert np.array_equal(cached.k_vrh, fresh.k_vrh) and np.array_equal(cached.spacegroup, fresh.spacegroup)
    assert np.array_equal(cached.g_vrh, fresh.g_vrh, equal_nan=True)
    pd.testing.assert_frame_equal(cached.meta, fresh.meta, check_dtype=False)
    assert [p.line() for p in cached.report.problems] == [p.line() for p in fresh.report.problems]
    assert [s and structure_hash(s) for s in cached.row_structures] == [
        s and structure_hash(s) for s in fresh.row_structures
    ]
    with np.load(mp_all.cache_dir("datasets") / mp_all.CACHE_FILE, allow_pickle=False) as z:
        assert all(z[name].dtype != object for name in z.files)  # data only: nothing that needs pickle
    write_matbench(sources, [*MATBENCH[:2], ("LiF", 225, 65.0), *MATBENCH[3:]])
    rebuilt = load_dataset("mp-kvrh-all")
    assert len(builds) == 2 and row(rebuilt, MBIDS[2])["k"] == pytest.approx(65.0)
    load_dataset("mp-kvrh-all")
    assert len(builds) == 2


def test_a_damaged_cache_is_rebuilt(sources):
    first = load_dataset("mp-kvrh-all")
    (mp_all.cache_dir("datasets") / mp_all.CACHE_FILE).write_bytes(b"not an npz")
    assert load_dataset("mp-kvrh-all").ids == first.ids


def test_a_missing_source_is_named(sources):
    (sources / MP_EXTRA_TENSORS_FILE).unlink()
    with pytest.raises(BulkmodError, match=r"mp_val_clean\.json: missing"):
        load_dataset("mp-kvrh-all")


def test_a_matbench_test_material_never_reaches_training_through_another_source(joined):
    for mbid in MBIDS:  # every matbench row is the test set once
        test = np.flatnonzero(joined.meta["mbid"] == mbid)
        train = np.setdiff1d(np.arange(len(joined)), np.union1d(test, matbench_linked_rows(joined, [mbid])))
        assert not {joined.ids[i] for i in train} & SAME_CRYSTAL.get(mbid, set())
        assert mbid not in set(joined.meta["mbid"].iloc[train])
    kept = matbench_linked_rows(joined, [MBIDS[2]])  # LiF has no other source: only its own row leaves
    assert [joined.ids[i] for i in kept] == [MBIDS[2]]
    with pytest.raises(BulkmodError, match="mbid"):
        matbench_linked_rows(load_dataset("mp-binary-2025"), MBIDS)


def test_partly_structured_dataset_keeps_structures_per_row_and_models_refuse_it(joined):
    with_structure = np.flatnonzero(joined.structure_mask)
    assert joined.subset(with_structure).has_structures  # a subset where every row has one is a structure set
    assert joined.subset(np.flatnonzero(~joined.structure_mask)).row_structures == [None] * 5
    with pytest.raises(BulkmodError, match="only 8 of 13 rows have one"):
        featurize(joined, FeatureConfig(("fractions", "density")))
    for model in (build_model("cgcnn", epochs=1), build_model("umlip-eos")):  # refused before any work
        with pytest.raises(BulkmodError, match="only 8 of 13 rows have one"):
            model.fit(joined, joined.y_log10)
    x, _ = featurize(joined, FeatureConfig(("fractions",)))  # composition features serve every row
    assert x.shape[0] == len(joined)
    with pytest.raises(ValueError, match="not both"):
        Dataset("x", ["a"], joined.compositions[:1], [1.0], structures=[None], partial_structures=[None])


# a cold build from the real files: cold_build_wall_s in benchmarks/results/mp_kvrh_all_join/mp_kvrh_all_join.json
@pytest.mark.slow
def test_real_data_headline_counts():
    try:
        shared_data_dir()
    except BulkmodError:
        pytest.skip("shared data not found")
    ds = mp_all.build_mp_kvrh_all()
    counts = ds.meta["n_elements"].value_counts().to_dict()
    assert len(ds) == 12033 and ds.structure_mask.sum() == 5209
    assert counts == {3: 6661, 2: 4658, 4: 474, 1: 217, 5: 23}
    ambiguous = [p for p in ds.report.problems if p.reason.startswith("ambiguous match")]
    assert len(ambiguous) == 131  # 106 matbench rows whose key several materials hold, 25 sharing a key with others
    assert {p.id for p in ds.report.rejected} == {"mp-867355", "mp-570459"}  # the two broken tensors
    mbids = ds.meta["mbid"][ds.meta["mbid"] != ""]
    assert len(mbids) == 10987 and mbids.is_unique  # every matbench row is in exactly one row
    assert (ds.meta["sources"] == "matbench").sum() == 10987 - 4163


def test_rows_without_a_structure_get_nan_structure_features_when_the_config_allows_them(joined):
    cfg = FeatureConfig(("fractions", "density"), missing_structures=True)
    x, errors = featurize(joined, cfg)
    density = len(FeatureConfig(("fractions",)).names())  # the first structure column
    has = joined.structure_mask
    assert not errors and x.shape == (len(joined), len(cfg.names()))
    assert np.isnan(x[~has, density:]).all() and np.isfinite(x[has, density:]).all()
    alone, _ = featurize(joined.subset(np.flatnonzero(has)), FeatureConfig(("fractions", "density")))
    np.testing.assert_array_equal(x[has], alone)  # the structure rows are featurised exactly as on their own
    np.testing.assert_array_equal(x[:, :density], featurize(joined, FeatureConfig(("fractions",)))[0])
    assert FeatureConfig.default_for(joined).missing_structures
    assert FeatureConfig.from_dict(cfg.as_dict()) == cfg
    assert FeatureConfig.from_dict(FeatureConfig(("fractions",)).as_dict() | {"missing_structures": None}) == \
        FeatureConfig(("fractions",))  # fmt: skip


def test_matbench_recovered_keeps_matbench_targets_and_only_unique_structures(joined):
    ds = load_dataset("matbench-log-kvrh-recovered")
    assert ds.ids == MBIDS
    np.testing.assert_allclose(ds.k_vrh, [k for _, _, k in MATBENCH])  # matbench's own K, never another source's
    carried = dict(zip(ds.ids, ds.meta["structure_from"], strict=True))
    assert {m: c for m, c in carried.items() if c} == {MBIDS[0]: "mp-1", MBIDS[3]: "mp-8", MBIDS[7]: "mp-3"}
    for mbid, mid in ((MBIDS[0], "mp-1"), (MBIDS[3], "mp-8")):
        got, want = ds.row_structures[ds.ids.index(mbid)], joined.row_structures[joined.ids.index(mid)]
        assert structure_hash(got) == structure_hash(want)
    assert [s is None for s in ds.row_structures] == [not carried[m] for m in MBIDS]


def test_ood_elastic2015_on_the_join_leaves_out_every_material_with_a_test_formula(joined):
    from bulkmod.data.splits import make_split

    folds = make_split("ood-elastic2015", joined)
    [fold] = folds
    assert fold.test.ids == ["mp-8"]  # the 2015 crystal not among the 2025 binaries
    assert "SrTiO3" not in fold.train.reduced_formulas and len(fold.train) == len(joined) - 1  # mp-8's formula
    assert fold.test.row_structures[0] is not None and fold.train.meta["k_source"].notna().all()
    assert folds.notes == {"n_test_formula_in_train": 0, "n_train_removed_by_formula": 1}
