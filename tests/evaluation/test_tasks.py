import pandas as pd
import pytest

from bulkmod.data import DATASETS
from bulkmod.data.splits import SPLITS
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.leaderboard import compare_with_leaderboard
from bulkmod.evaluation.tasks import Task


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_a_task_has_the_leaderboard_the_old_name_test_gave(dataset):
    """benchmark and evaluate compared with the leaderboard where ``dataset.startswith("matbench-log-kvrh")``."""
    expected = compare_with_leaderboard if dataset.startswith("matbench-log-kvrh") else None
    assert Task.of(dataset).leaderboard is expected
    assert Task.of(dataset, "kfold").leaderboard is expected


def test_only_matbench_datasets_have_the_official_folds():
    for dataset in DATASETS:
        if dataset.startswith("matbench-log-kvrh"):
            assert Task.of(dataset, "matbench-official").split == "matbench-official"
        else:
            with pytest.raises(BulkmodError, match="matbench-official split exists for matbench-log-kvrh"):
                Task.of(dataset, "matbench-official")


def test_ood_elastic2015_trains_only_on_what_holds_mp_binary_2025():
    for dataset in ("mp-binary-2025", "mp-kvrh-all"):
        assert Task.of(dataset, "ood-elastic2015").leaderboard is None
    for dataset in ("elastic-2015", "expt-jarvis", "matbench-log-kvrh-comp", "my.csv"):
        with pytest.raises(BulkmodError, match="ood-elastic2015 split exists for mp-binary-2025, mp-kvrh-all"):
            Task.of(dataset, "ood-elastic2015")


def test_every_other_split_takes_any_dataset():
    for split in set(SPLITS) - {"matbench-official", "ood-elastic2015"}:
        assert Task.of("my.csv", split) == Task("my.csv", split, None)


def test_a_whole_dataset_task_has_no_folds(mp_small):
    with pytest.raises(BulkmodError, match="no folds"):
        Task.of("mp-binary-2025").folds(mp_small)
    assert len(Task.of("mp-binary-2025", "kfold").folds(mp_small, 3)) == 3


def test_leaderboard_results_repeat_the_comparison_on_rows_with_a_structure():
    seen: list[int] = []

    def board(preds: pd.DataFrame) -> list[dict]:
        seen.append(len(preds))
        return [{"n_shared": len(preds)}]

    preds = pd.DataFrame({"id": ["a", "b", "c"], "has_structure": [True, False, True]})
    assert Task("d", "kfold", board).leaderboard_results(preds) == {
        "leaderboard": [{"n_shared": 3}],
        "leaderboard_rows_with_structure": [{"n_shared": 2}],
    }
    assert Task("d", "kfold", board).leaderboard_results(preds.assign(has_structure=True)) == {
        "leaderboard": [{"n_shared": 3}]
    }
    assert Task("d", "kfold", None).leaderboard_results(preds) == {} and seen == [3, 2, 3]
