"""The Python API: one call from a notebook to a table of bulk moduli.

``bulkmod.predict(structure)`` runs the same path as ``bulkmod predict``: in-memory crystals are handed to the
hardened JSON reader (never ``Structure.from_dict``), validated, featurised and predicted in batches, and every
input gets exactly one row, with the reason in ``error`` when it could not be predicted. Everything here is a
thin layer over the CLI's own functions, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from bulkmod.data.records import Dataset
from bulkmod.data.stream import Item, iter_items
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Estimator
from bulkmod.models.pretrained import ALIASES, list_pretrained, resolve_model_dir
from bulkmod.parallel import Backend
from bulkmod.prediction import mark_duplicates, predict_batches


class Model:
    """A loaded model: ``predict(inputs, level=0.9)`` gives the same table as :func:`bulkmod.predict`.

    ``estimator`` is the underlying :class:`~bulkmod.models.base.Estimator` (``fit``/``predict`` on datasets),
    ``directory`` the folder it was loaded from.
    """

    def __init__(self, estimator: Estimator, directory: Path) -> None:
        self.estimator, self.directory = estimator, directory

    @property
    def name(self) -> str:
        return self.directory.name

    def __repr__(self) -> str:
        return f"bulkmod.Model({self.name!r})"

    def predict(self, inputs: Any, level: float = 0.9) -> pd.DataFrame:
        """One row per input: ``source, formula, k_vrh_gpa, k_vrh_low_gpa, k_vrh_high_gpa, in_domain, error``
        (then any model-specific columns); the interval is at ``level`` (0 < level < 1)."""
        self.estimator.set_level(level)
        with Backend("local") as backend:
            frames = list(predict_batches(_items(inputs), self.estimator, backend))
        if not frames:
            raise BulkmodError("no inputs: give a Structure, an ASE Atoms, a path, or a list of them")
        return mark_duplicates(pd.concat(frames, ignore_index=True), {})


def load_model(name_or_dir: str | Path = "default") -> Model:
    """A shipped model (``"default"``, ``"fast"``, a name from :func:`list_models`) or a saved model folder."""
    directory = resolve_model_dir(str(name_or_dir))
    return Model(Estimator.load(directory), directory)


def predict(inputs: Any, model: str | Path | Model = "default", level: float = 0.9) -> pd.DataFrame:
    """K_VRH (GPa) with an interval at ``level`` for a pymatgen ``Structure``, an ASE ``Atoms``, a path (file,
    folder, glob, multi-frame extxyz, JSON lines) or a list mixing them; one row per crystal, in order."""
    loaded = model if isinstance(model, Model) else load_model(model)
    return loaded.predict(inputs, level=level)


def list_models() -> pd.DataFrame:
    """Shipped models (usable at once) and registry models (``train`` them first), one row each."""
    from bulkmod.models import MODELS

    shipped = [{"name": n, "kind": "shipped", "alias": ", ".join(a for a, t in ALIASES.items() if t == n),
                "family": "", "summary": ""} for n in list_pretrained()]  # fmt: skip
    registry = [{"name": k, "kind": "registry", "alias": "", "family": s.family, "summary": s.summary}
                for k, s in MODELS.items()]  # fmt: skip
    return pd.DataFrame(shipped + registry)


def load_dataset(name_or_path: str | Path) -> Dataset:
    """A named dataset (``mp-kvrh-all``, ``mp-binary-2025``, ...), a CSV or a CGCNN folder, validated."""
    from bulkmod.data import load_dataset as load

    return load(str(name_or_path))


def benchmark(
    dataset: str, model: str, *, split: str = "kfold", folds: int = 5, out: str | Path | None = None, **config: Any
) -> dict[str, Any]:
    """Cross-validate a registry model (``config``: its options, e.g. ``inner_folds=5``); the results dict of
    ``bulkmod benchmark`` (also written to ``out`` with its predictions CSV when given)."""
    from bulkmod.evaluation.benchmark import run_benchmark

    return run_benchmark(dataset, model, split=split, folds=folds, model_config=config, out=out)


def train(model: str, dataset: str, out: str | Path, *, cv: int = 0, **config: Any) -> Model:
    """Train a registry model on a dataset, save it to ``out`` (with ``cv``-fold metrics in its manifest when
    ``cv`` >= 2) and return it loaded, ready to ``predict``."""
    from bulkmod.training.fit import train_and_save

    directory, _ = train_and_save(model, dataset, Path(out), model_config=config, cv_folds=cv)
    return load_model(directory)


def _items(inputs: Any) -> Iterator[Item]:
    """Items for the prediction stream; in-memory crystals become JSON rows for the safe reader."""
    for i, x in enumerate(inputs if _is_many(inputs) else [inputs]):
        source = f"[{i}]"
        if isinstance(x, str | Path):
            yield from iter_items([str(x)])
        elif _is_structure(x):
            yield Item(source, "json", '{"structure": ' + x.to_json() + "}")
        elif _is_atoms(x):
            from pymatgen.io.ase import AseAtomsAdaptor

            try:
                yield Item(source, "json", '{"structure": ' + AseAtomsAdaptor.get_structure(x).to_json() + "}")
            except Exception as exc:  # any ASE object the adaptor cannot convert is that input's error
                yield Item(source, "error", f"ASE Atoms could not be converted ({type(exc).__name__}: {exc})")
        else:
            yield Item(source, "error", f"cannot read a {type(x).__name__}: give a Structure, an Atoms or a path")


def _is_many(inputs: Any) -> bool:
    return isinstance(inputs, Iterable) and not isinstance(inputs, str | Path) and not _is_structure(inputs) and \
        not _is_atoms(inputs)  # fmt: skip


def _is_structure(x: Any) -> bool:
    from pymatgen.core import Structure

    return isinstance(x, Structure)


def _is_atoms(x: Any) -> bool:
    from ase import Atoms

    return isinstance(x, Atoms)


__all__ = ["Model", "benchmark", "list_models", "load_dataset", "load_model", "predict", "train"]
