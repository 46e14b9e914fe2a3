import numpy as np
import pytest
from sklearn.model_selection import KFold

from bulkmod.data import load_dataset
from bulkmod.data.splits import OOD_TEST_NAME, SPLITS, make_split
from bulkmod.errors import BulkmodError


def test_kfold_is_matbench_kfold_over_dataset_order(mp_small):
    folds = make_split("kfold", mp_small, 5)
    ref = KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(mp_small)))
    for fold, (rtr, rte) in zip(folds, ref, strict=True):
        assert np.array_equal(fold.test_rows, rte) and np.array_equal(fold.train_rows, rtr)


@pytest.mark.parametrize("split", [s for s in SPLITS if s not in ("matbench-official", "ood-elastic2015")])
def test_a_split_returns_named_train_and_test_datasets_of_its_rows(mp_small, split):
    folds = make_split(split, mp_small, 5)
    assert folds.data is mp_small and len(folds) == 5 and folds.notes == {}
    assert folds.train_name == folds.test_name == mp_small.name
    for fold in folds:
        assert fold.train.name == fold.test.name == mp_small.name
        assert fold.train.ids == [mp_small.ids[i] for i in fold.train_rows]
        assert fold.test.ids == [mp_small.ids[i] for i in fold.test_rows]
        np.testing.assert_array_equal(fold.test.y_log10, mp_small.y_log10[fold.test_rows])


def test_matbench_official_folds_match_the_fold_file():
    ds = load_dataset("matbench-log-kvrh-comp")
    folds = make_split("matbench-official", ds)
    ref = KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(ds)))
    for fold, (_, rte) in zip(folds, ref, strict=True):
        assert np.array_equal(np.sort(fold.test_rows), np.sort(rte))
        assert fold.test.name == fold.train.name == "matbench-log-kvrh-comp"


def test_formula_grouped_keeps_polymorphs_together(mp_binary):
    folds = make_split("formula-grouped", mp_binary, 5)
    for fold in folds:
        assert not set(fold.train.reduced_formulas) & set(fold.test.reduced_formulas)
    assert sorted(np.concatenate([f.test_rows for f in folds]).tolist()) == list(range(len(mp_binary)))


def test_chemsys_grouped_keeps_every_stoichiometry_of_a_system_together(mp_small):
    folds = make_split("chemsys-grouped", mp_small, 5)
    assert len(set(mp_small.chemical_systems)) < len(set(mp_small.reduced_formulas))  # coarser than formula groups
    for fold in folds:
        assert not set(fold.train.chemical_systems) & set(fold.test.chemical_systems)
    assert sorted(np.concatenate([f.test_rows for f in folds]).tolist()) == list(range(len(mp_small)))
    again = make_split("chemsys-grouped", mp_small, 5)
    assert all(np.array_equal(a.test_rows, b.test_rows) for a, b in zip(folds, again, strict=True))  # seeded


def test_ood_elastic2015_tests_only_unseen_ids_and_names_its_parts(mp_binary):
    folds = make_split("ood-elastic2015", mp_binary)
    [fold] = folds
    assert len(fold.train) == 3953 and len(fold.test) == 1181 - 723
    assert not set(fold.train.ids) & set(fold.test.ids)
    assert (folds.train_name, folds.test_name) == ("mp-binary-2025", OOD_TEST_NAME)
    assert folds.data.name == "mp-binary-2025+elastic-2015" and len(folds.data) == 3953 + 458
    assert fold.test.ids == [folds.data.ids[i] for i in fold.test_rows]
    seen = set(fold.train.reduced_formulas)
    n_polymorphs = sum(f in seen for f in fold.test.reduced_formulas)
    assert folds.notes == {"n_test_formula_in_train": n_polymorphs, "n_train_removed_by_formula": 0}


def test_bad_split_name_and_fold_count(mp_small):
    with pytest.raises(BulkmodError, match="kfold"):
        make_split("random", mp_small)
    with pytest.raises(BulkmodError, match="folds"):
        make_split("kfold", mp_small, 1)


def test_kfold_keeps_one_structure_under_several_ids_in_one_fold(mp_small):
    from bulkmod.data.splits import concat

    repeats = mp_small.subset([0, 0, 1, 2, 2, 2])
    ds = concat([mp_small, repeats], name="with-repeats")
    ds.report = mp_small.report
    folds = make_split("kfold", ds, 5)
    n = len(mp_small)
    fold_of = np.empty(len(ds), int)
    for f, fold in enumerate(folds):
        fold_of[fold.test_rows] = f
        assert not set(fold.train_rows) & set(fold.test_rows)
    assert fold_of[n] == fold_of[n + 1] == fold_of[0] and fold_of[n + 2] == fold_of[1]
    assert len(set(fold_of[[2, n + 3, n + 4, n + 5]])) == 1
    raw = np.empty(len(ds), int)
    for f, (_, test) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(ds)))):
        raw[test] = f
    others = np.setdiff1d(np.arange(len(ds)), [0, 1, 2, *range(n, n + 6)])
    assert np.array_equal(fold_of[others], raw[others])  # rows without a repeat keep matbench's folds
