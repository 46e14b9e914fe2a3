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
