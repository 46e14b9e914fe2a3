"""Tasks: a dataset scored on a named split, with what is special about the pair (in matbench's spirit).

The benchmark runner, ``evaluate`` and ``tune`` ask a task instead of testing dataset or split names: which
datasets are compared with the matbench leaderboard, which have the official matbench folds, which datasets
ood-elastic2015 can train on. A new dataset with a leaderboard, or a split that only some datasets have, is one
entry in a table here. Tasks sit in ``evaluation`` because the leaderboard hook is evaluation code; splits stay in
``data``, below every model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bulkmod.data.records import Dataset
from bulkmod.data.splits import Folds, make_split
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.leaderboard import compare_with_leaderboard

Leaderboard = Callable[[pd.DataFrame], list[dict[str, Any]]]

MATBENCH_LOG_KVRH = ("matbench-log-kvrh", "matbench-log-kvrh-comp", "matbench-log-kvrh-recovered")
# predictions on these are compared per sample with every matbench_log_kvrh submission (matched by mbid)
LEADERBOARDS: dict[str, Leaderboard] = dict.fromkeys(MATBENCH_LOG_KVRH, compare_with_leaderboard)
# splits that exist only for some datasets: the official folds are matbench's own; ood-elastic2015 trains on
# mp-binary-2025 or on the join that holds it, and would silently train on mp-binary-2025 given anything else
SPLIT_DATASETS: dict[str, tuple[str, ...]] = {
    "matbench-official": MATBENCH_LOG_KVRH,
    "ood-elastic2015": ("mp-binary-2025", "mp-kvrh-all"),
}


@dataclass(frozen=True)
class Task:
    """``dataset`` scored on ``split``; ``split`` is None where a trained model is scored on all of the dataset.

    Build one with :meth:`of`, which checks the pair and attaches the dataset's leaderboard.
    """

    dataset: str
    split: str | None = None
    leaderboard: Leaderboard | None = None

    @classmethod
    def of(cls, dataset: str, split: str | None = None) -> Task:
        """The task of scoring ``dataset`` on ``split`` (None: all of it).

        It is refused where the split does not exist for that dataset (the official folds of a dataset matbench
        never split, say).
        """
        allowed = SPLIT_DATASETS.get(split) if split is not None else None
        if allowed is not None and dataset not in allowed:
            raise BulkmodError(f"the {split} split exists for {', '.join(allowed)}, not {dataset!r}")
        return cls(dataset, split, LEADERBOARDS.get(dataset))

    def folds(self, ds: Dataset, k: int = 5) -> Folds:
        """The split's folds of ``ds``, this task's dataset as loaded (``--limit`` may have cut it)."""
        if self.split is None:
            raise BulkmodError(f"the task on {self.dataset} scores the whole dataset: it has no folds")
        return make_split(self.split, ds, k)

    def leaderboard_results(self, preds: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
        """What a results file records from the leaderboard: nothing for a dataset without one.

        Where only some rows have a structure, the comparison is repeated on those rows: a structure model's
        edge shows there, and the rows without one dilute it.
        """
        if self.leaderboard is None:
            return {}
        out = {"leaderboard": self.leaderboard(preds)}
        with_structure = preds["has_structure"].astype(bool)
        if with_structure.any() and not with_structure.all():
            out["leaderboard_rows_with_structure"] = self.leaderboard(preds[with_structure])
        return out
