"""The named datasets (name -> loader) and :func:`load_dataset` for a name, a CSV file or a CGCNN folder.

The table sits above both the source loaders and the ``mp-kvrh-all`` join, which is built from those loaders:
kept in ``loaders.py`` it made the two modules import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bulkmod.data.loaders import (
    load_cgcnn_dir,
    load_csv,
    load_elastic_2015,
    load_expt_jarvis,
    load_matbench_comp,
    load_matbench_structures,
    load_mp_binary_2025,
    load_mp_extra_tensors,
)
from bulkmod.data.mp_all import load_matbench_recovered, load_mp_kvrh_all
from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError

DATASETS: dict[str, Callable[[], Dataset]] = {
    "mp-binary-2025": load_mp_binary_2025,
    "elastic-2015": load_elastic_2015,
    "mp-elastic-extra": load_mp_extra_tensors,
    "matbench-log-kvrh-comp": load_matbench_comp,
    "matbench-log-kvrh": load_matbench_structures,
    "expt-jarvis": load_expt_jarvis,
    "mp-kvrh-all": load_mp_kvrh_all,
    "matbench-log-kvrh-recovered": load_matbench_recovered,
}


def load_dataset(name_or_path: str) -> Dataset:
    """A named dataset, a CGCNN folder, or a CSV file."""
    if name_or_path in DATASETS:
        return DATASETS[name_or_path]()
    path = Path(name_or_path)
    if path.is_dir():
        return load_cgcnn_dir(path)
    if path.suffix.lower() == ".csv":
        return load_csv(path)
    raise BulkmodError(
        f"unknown dataset {name_or_path!r}: use one of {', '.join(DATASETS)}, a CSV file or a CGCNN folder"
    )
