"""Neighbour-target features: never built from a row's own target at fit time, saved without pickles."""

import json

import numpy as np
import pytest
from pymatgen.core import Composition
from sklearn.model_selection import KFold

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator, build_model
from bulkmod.models.neighbours import (
    NEIGHBOUR_FILE,
    NeighbourKeys,
    NeighbourStacker,
    NeighbourTable,
    crystal_system,
    neighbour_config,
    neighbour_names,
)

CATIONS = ["Li", "Na", "Mg", "Ca", "Al", "Si", "Ti", "Fe", "Ni", "Zn", "Ga", "Sr"]
ANIONS = ["O", "S", "N", "F", "Se"]
SPGS = [225, 221, 194, 62, 14, 166]


def polymorph_dataset(n_formulas: int = 70, seed: int = 0) -> Dataset:
    """Binary compositions, 1-3 polymorphs each; log10 K depends on composition, space group and noise."""
    rng = np.random.default_rng(seed)
    comps, spgs, logk = [], [], []
    seen = set()
    while len(seen) < n_formulas:
        a, b = rng.choice(CATIONS), rng.choice(ANIONS)
        x, y = (int(v) for v in rng.integers(1, 4, 2))
        comp = Composition({a: x, b: y})
        if comp.reduced_formula in seen:
            continue
        seen.add(comp.reduced_formula)
        level = 1.0 + 0.8 * CATIONS.index(a) / len(CATIONS) + 0.3 * x / (x + y)
        for spg in rng.choice(SPGS, size=int(rng.integers(1, 4)), replace=False):
            comps.append(comp)
            spgs.append(int(spg))
            logk.append(level + 0.1 * (spg > 190) + rng.normal(0, 0.05))
    ids = [f"row-{i}" for i in range(len(comps))]
    return Dataset("polymorphs", ids, comps, 10 ** np.array(logk), spacegroup=np.array(spgs))


@pytest.fixture(scope="module")
def poly():
    return polymorph_dataset()


def table_of(ds: Dataset, y: np.ndarray | None = None) -> NeighbourTable:
    return NeighbourTable(NeighbourKeys.from_dataset(ds), ds.y_log10 if y is None else y)


def test_out_of_fold_features_ignore_the_rows_own_target_and_its_fold_mates(poly):
    y = poly.y_log10
    base = table_of(poly).out_of_fold(5, seed=3)
    assert base.shape == (len(poly), len(neighbour_names())) and np.isfinite(base[:, 0]).all()
    folds = list(KFold(5, shuffle=True, random_state=3).split(y))
    for i in (0, 7, len(poly) - 1):
        moved = y.copy()
        moved[i] += 2.0  # a huge change of one target
        again = table_of(poly, moved).out_of_fold(5, seed=3)
        mates = next(te for _, te in folds if i in te)
        np.testing.assert_array_equal(again[mates], base[mates])  # row i and its fold-mates: untouched
        assert np.any(np.nan_to_num(again) != np.nan_to_num(base))  # other rows do see it: the test is sensitive


def test_polymorph_statistics_come_from_the_other_rows(poly):
    y, formulas = poly.y_log10, np.array(poly.reduced_formulas)
    names = neighbour_names()
    oof = table_of(poly).out_of_fold(5, seed=0)
    for te_tr in KFold(5, shuffle=True, random_state=0).split(y):
        tr, te = te_tr
        for i in te[:10]:
            same = tr[formulas[tr] == formulas[i]]
            assert oof[i, names.index("nb_formula_n")] == len(same)
            if len(same):
                assert oof[i, names.index("nb_formula_mean")] == pytest.approx(y[same].mean())
                assert oof[i, names.index("nb_formula_max")] == pytest.approx(y[same].max())
            else:
                assert np.isnan(oof[i, names.index("nb_formula_mean")])
    # at prediction time the whole table is used: a query row that is in it sees every polymorph
    full = table_of(poly).query(NeighbourKeys.from_dataset(poly.subset([0])))
    same = formulas == formulas[0]
    assert full[0, names.index("nb_formula_n")] == same.sum()
    assert full[0, names.index("nb_formula_mean")] == pytest.approx(y[same].mean())
    assert full[0, names.index("nb_frac_d1")] == pytest.approx(0.0, abs=1e-6)


def test_unknown_space_group_never_matches_and_crystal_systems():
    np.testing.assert_array_equal(crystal_system(np.array([0, 1, 2, 3, 74, 75, 167, 168, 194, 195, 230])),
                                  [-1, 0, 0, 1, 2, 3, 4, 5, 5, 6, 6])  # fmt: skip
    comps = [Composition("MgO")] * 3
    ds = Dataset("t", ["a", "b", "c"], comps, np.array([100.0, 150.0, 200.0]), spacegroup=np.array([0, 0, 225]))
    q = table_of(ds.subset([0, 1])).query(NeighbourKeys.from_dataset(ds.subset([0, 2])))
    names = neighbour_names()
    assert q[0, names.index("nb_formula_n")] == 2 and q[0, names.index("nb_formula_spg_n")] == 0
    assert q[1, names.index("nb_formula_sys_n")] == 0


def test_neighbour_option_parsing():
    assert neighbour_config(True) == {"folds": 5} and neighbour_config(False) is None
    assert neighbour_config({"folds": 10}) == {"folds": 10}
    for bad in ({"k": 3}, {"folds": 1}, "yes"):
        with pytest.raises(BulkmodError, match="neighbours"):
            neighbour_config(bad)
    model = build_model("lgbm", params={"neighbours": True, "learning_rate": 0.1})  # --param neighbours=true
    assert model.options.neighbours == {"folds": 5} and "neighbours" not in model.params


def test_model_with_neighbours_saves_without_pickle_and_predicts_identically(poly, tmp_path):
    train, test = poly.subset(range(0, len(poly) - 40)), poly.subset(range(len(poly) - 40, len(poly)))
    model = build_model("lgbm", neighbours=True, inner_folds=3, params={"learning_rate": 0.1})
    model.fit(train, train.y_log10)
    pred = model.predict(test)
    assert np.isfinite(pred.mean_log10).all() and pred.lo90_log10 is not None
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert NEIGHBOUR_FILE in manifest["weights"] and manifest["config"]["neighbours"] == {"folds": 5}
    with np.load(tmp_path / "m" / NEIGHBOUR_FILE, allow_pickle=False) as z:
        assert len(z["y_log10"]) == len(train) and z["formula"].dtype.kind == "U"
    loaded = Estimator.load(tmp_path / "m")
    again = loaded.predict(test)
    np.testing.assert_array_equal(again.mean_log10, pred.mean_log10)
    np.testing.assert_array_equal(again.hi90_log10, pred.hi90_log10)
    # the config alone rebuilds the same model
    rebuilt = build_model("lgbm", **json.loads(json.dumps(model.config()))).fit(train, train.y_log10)
    np.testing.assert_allclose(rebuilt.predict(test).mean_log10, pred.mean_log10, rtol=1e-12)
    # a table whose bytes changed is refused like any weights file
    (tmp_path / "m" / NEIGHBOUR_FILE).write_bytes((tmp_path / "m" / NEIGHBOUR_FILE).read_bytes() + b"\0")
    with pytest.raises(BulkmodError, match="sha256"):
        Estimator.load(tmp_path / "m")


def test_neighbour_variant_is_a_nested_candidate(poly):
    train = poly.subset(range(len(poly) - 40))
    cands = [{}, {"neighbours": True}]
    model = build_model("lgbm", candidates=cands, inner_folds=2, params={"learning_rate": 0.1})
    model.fit(train, train.y_log10)
    sel = model.train_info["selection"]
    assert [s["neighbours"] for s in sel] == [None, {"folds": 5}]
    best = min(sel, key=lambda s: s["inner_mae_log10"])
    assert model.options.neighbours == best["neighbours"]
    assert (model._neighbours is not None) == bool(best["neighbours"])


def test_stacker_fits_out_of_fold_and_looks_new_rows_up_in_every_fitted_row(poly, tmp_path):
    train, new = poly.subset(range(len(poly) - 20)), poly.subset(range(len(poly) - 20, len(poly)))
    stacker = NeighbourStacker(folds=4, seed=1)
    fitted = stacker.fit_transform(NeighbourKeys.from_dataset(train), train.y_log10)
    np.testing.assert_array_equal(fitted, table_of(train).out_of_fold(4, seed=1))
    new_keys = NeighbourKeys.from_dataset(new)
    np.testing.assert_array_equal(stacker.transform(new_keys), table_of(train).query(new_keys))
    stacker.save(tmp_path / NEIGHBOUR_FILE)
    loaded = NeighbourStacker(folds=4, seed=1)
    loaded.load(tmp_path / NEIGHBOUR_FILE)
    np.testing.assert_array_equal(loaded.transform(new_keys), stacker.transform(new_keys))
    with pytest.raises(BulkmodError, match="fit_transform"):
        NeighbourStacker(folds=4, seed=1).transform(new_keys)
