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

    Attributes:
        estimator: The underlying :class:`~bulkmod.models.base.Estimator` (``fit``/``predict`` on datasets).
        directory: The folder it was loaded from.
    """

    def __init__(self, estimator: Estimator, directory: Path) -> None:
        """Wrap a loaded estimator; use :func:`load_model` rather than calling this."""
        self.estimator, self.directory = estimator, directory

    @property
    def name(self) -> str:
        """The model's name: its folder's name (a shipped model's name for shipped ones)."""
        return self.directory.name

    def __repr__(self) -> str:
        """``bulkmod.Model('<name>')``."""
        return f"bulkmod.Model({self.name!r})"

    def predict(self, inputs: Any, level: float = 0.9) -> pd.DataFrame:
        """Predict K_VRH with an interval for each input crystal.

        Args:
            inputs: A pymatgen ``Structure``, an ASE ``Atoms``, a path (file, folder, glob, multi-frame extxyz,
                JSON lines) or a list mixing them.
            level: The interval's level, 0 < level < 1.

        Returns:
            One row per input, in order: ``source, formula, k_vrh_gpa, k_vrh_low_gpa, k_vrh_high_gpa, in_domain,
            error``, then any model-specific columns. An input that could not be predicted has its reason in
            ``error`` and empty K columns.

        Raises:
            BulkmodError: No input was given, or ``level`` is outside (0, 1).
        """
        self.estimator.set_level(level)
        with Backend("local") as backend:
            frames = list(predict_batches(_items(inputs), self.estimator, backend))
        if not frames:
            raise BulkmodError("no inputs: give a Structure, an ASE Atoms, a path, or a list of them")
        return mark_duplicates(pd.concat(frames, ignore_index=True), {})


def load_model(name_or_dir: str | Path = "default") -> Model:
    """Load a shipped model or a saved model folder (weights checked against the manifest's hashes).

    Args:
        name_or_dir: ``"default"``, ``"fast"``, a name from :func:`list_models`, or a folder ``train`` wrote.

    Returns:
        The model, ready to ``predict``.

    Raises:
        BulkmodError: Unknown name, or a folder whose manifest or weights fail their checks.
    """
    directory = resolve_model_dir(str(name_or_dir))
    return Model(Estimator.load(directory), directory)


def predict(inputs: Any, model: str | Path | Model = "default", level: float = 0.9) -> pd.DataFrame:
    """Predict K_VRH (GPa) with an interval, in one call.

    Args:
        inputs: A pymatgen ``Structure``, an ASE ``Atoms``, a path (file, folder, glob, multi-frame extxyz,
            JSON lines) or a list mixing them.
        model: A name for :func:`load_model`, a saved model folder, or a :class:`Model` already loaded.
        level: The interval's level, 0 < level < 1.

    Returns:
        The table of :meth:`Model.predict`: one row per crystal, in order.
    """
    loaded = model if isinstance(model, Model) else load_model(model)
    return loaded.predict(inputs, level=level)


def list_models() -> pd.DataFrame:
    """List the models bulkmod knows.

    Returns:
        One row per model: ``name``, ``kind`` (``shipped``: usable at once; ``registry``: ``train`` it first),
        ``alias``, ``family`` and ``summary``.
    """
    from bulkmod.models import MODELS

    shipped = [{"name": n, "kind": "shipped", "alias": ", ".join(a for a, t in ALIASES.items() if t == n),
                "family": "", "summary": ""} for n in list_pretrained()]  # fmt: skip
    registry = [{"name": k, "kind": "registry", "alias": "", "family": s.family, "summary": s.summary}
                for k, s in MODELS.items()]  # fmt: skip
    return pd.DataFrame(shipped + registry)


def load_dataset(name_or_path: str | Path) -> Dataset:
    """Load and validate a dataset.

    Args:
        name_or_path: A named dataset (``mp-kvrh-all``, ``mp-binary-2025``, ...), a CSV or a CGCNN folder.

    Returns:
        The rows that passed validation; ``report`` on the result lists the rejected ones and why.
    """
    from bulkmod.data import load_dataset as load

    return load(str(name_or_path))


def benchmark(
    dataset: str, model: str, *, split: str = "kfold", folds: int = 5, out: str | Path | None = None, **config: Any
) -> dict[str, Any]:
    """Cross-validate a registry model, as ``bulkmod benchmark`` does.

    Args:
        dataset: A dataset name, CSV or CGCNN folder.
        model: A registry key (see :func:`list_models`).
        split: A named split (``kfold``, ``formula-grouped``, ``ood-elastic2015``, ...).
        folds: K for the k-fold splits.
        out: Where to write the results JSON (and its predictions CSV beside it); None writes nothing.
        **config: The model's options, e.g. ``inner_folds=5`` or ``params={"num_leaves": 63}``.

    Returns:
        The results (schema ``bulkmod-results/1``): headline metrics, per-K-bin and per-fold errors, coverage.
    """
    from bulkmod.evaluation.benchmark import run_benchmark

    return run_benchmark(dataset, model, split=split, folds=folds, model_config=config, out=out)


def train(model: str, dataset: str, out: str | Path, *, cv: int = 0, **config: Any) -> Model:
    """Train a registry model on a whole dataset and save it.

    Args:
        model: A registry key (see :func:`list_models`).
        dataset: A dataset name, CSV or CGCNN folder.
        out: The folder to save the model in (manifest + non-executable weights).
        cv: With ``cv`` >= 2, first cross-validate and store those metrics in the manifest.
        **config: The model's options, e.g. ``inner_folds=5``.

    Returns:
        The saved model, loaded and ready to ``predict``.
    """
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
