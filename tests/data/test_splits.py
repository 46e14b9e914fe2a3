import numpy as np
import pytest
from sklearn.model_selection import KFold

from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.errors import BulkmodError


def test_kfold_is_matbench_kfold_over_dataset_order(mp_small):
    _, folds = make_split("kfold", mp_small, 5)
    ref = KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(mp_small)))
    for (tr, te), (rtr, rte) in zip(folds, ref, strict=True):
        assert np.array_equal(te, rte) and np.array_equal(tr, rtr)


def test_matbench_official_folds_match_the_fold_file():
    ds = load_dataset("matbench-log-kvrh-comp")
    _, folds = make_split("matbench-official", ds)
    ref = KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(ds)))
    for (_, te), (_, rte) in zip(folds, ref, strict=True):
        assert np.array_equal(np.sort(te), np.sort(rte))


def test_formula_grouped_keeps_polymorphs_together(mp_binary):
    _, folds = make_split("formula-grouped", mp_binary, 5)
    formulas = np.array(mp_binary.reduced_formulas)
    for tr, te in folds:
        assert not set(formulas[tr]) & set(formulas[te])
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(mp_binary)))


def test_chemsys_grouped_keeps_every_stoichiometry_of_a_system_together(mp_small):
    _, folds = make_split("chemsys-grouped", mp_small, 5)
    systems = np.array(mp_small.chemical_systems)
    assert len(set(systems)) < len(set(mp_small.reduced_formulas))  # coarser than formula groups here
    for tr, te in folds:
        assert not set(systems[tr]) & set(systems[te])
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(mp_small)))
    _, again = make_split("chemsys-grouped", mp_small, 5)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(folds, again, strict=True))  # seeded


def test_ood_elastic2015_tests_only_unseen_ids(mp_binary):
    ds, [(tr, te)] = make_split("ood-elastic2015", mp_binary)
    train_ids = {ds.ids[i] for i in tr}
    assert len(tr) == 3953 and len(te) == 1181 - 723
    assert not train_ids & {ds.ids[i] for i in te}


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
    _, folds = make_split("kfold", ds, 5)
    n = len(mp_small)
    fold_of = np.empty(len(ds), int)
    for f, (train, test) in enumerate(folds):
        fold_of[test] = f
        assert not set(train) & set(test)
    assert fold_of[n] == fold_of[n + 1] == fold_of[0] and fold_of[n + 2] == fold_of[1]
    assert len(set(fold_of[[2, n + 3, n + 4, n + 5]])) == 1
    raw = np.empty(len(ds), int)
    for f, (_, test) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(ds)))):
        raw[test] = f
    others = np.setdiff1d(np.arange(len(ds)), [0, 1, 2, *range(n, n + 6)])
    assert np.array_equal(fold_of[others], raw[others])  # rows without a repeat keep matbench's folds
