"""The one estimator interface every bulkmod model implements, and its safe on-disk format.

A saved model is a directory: ``manifest.json`` (what it is, how it was trained, its cross-validated
errors, the sha256 of every weights file) plus weights in non-executable formats (LightGBM text,
XGBoost JSON, safetensors). Loading treats the folder as untrusted (:mod:`bulkmod.models.safety`: names,
file types, sizes, the manifest's shape; :mod:`bulkmod.models.formats`: each weights format before its
parser), checks the hashes first and never unpickles anything. A manifest names its model by the registry key it
was built with (``umlip-hybrid``, not the ``lgbm`` class underneath), so loading rebuilds the same model with
:func:`build_model` (the table is :mod:`bulkmod.models.registry`, which the estimator modules fill in themselves)
and never by a module path.

A manifest also says which code wrote it, and loading compares (:func:`check_versions`): a class format version
newer than this code's, or descriptors from other feature code, would give wrong predictions without an error,
so they are refused; other library versions usually change predictions only slightly, so they are a warning.
"""

from __future__ import annotations

import contextlib
import platform
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError, BulkmodWarning
from bulkmod.features.featurizer import FEATURE_VERSION
from bulkmod.io import sha256_file, sha256_json, write_json_atomic
from bulkmod.models.options import Options
from bulkmod.models.registry import MODELS
from bulkmod.models.safety import MANIFEST, MODEL_FORMAT, read_manifest, verify_weights
from bulkmod.uncertainty.conformal import ConformalInterval, check_level
from bulkmod.uncertainty.constants import Z90
from bulkmod.uncertainty.domain import DescriptorDomain

# the libraries whose version a manifest records and loading compares (bulkmod's own is the format version's job)
LIBRARIES = ("numpy", "scikit-learn", "lightgbm", "xgboost-cpu", "pymatgen", "torch", "chgnet", "sevenn")


@dataclass
class Prediction:
    """Predictions in log10(GPa). Rows listed in ``errors`` could not be predicted (mean is NaN).

    ``lo90_log10``/``hi90_log10`` are the interval at the model's ``level`` (0.9 unless :meth:`Estimator.set_level`
    changed it); ``std_log10`` is the Gaussian-equivalent std of the 90 % interval whatever the level.
    """

    mean_log10: np.ndarray
    std_log10: np.ndarray | None = None
    lo90_log10: np.ndarray | None = None
    hi90_log10: np.ndarray | None = None
    errors: dict[int, str] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # model-specific output columns, per row


def data_hash(ds: Dataset) -> str:
    """Identifies the training data in a manifest: ids and targets, in order."""
    return sha256_json({"ids": list(ds.ids), "k": np.round(ds.k_vrh, 6).tolist()})[:16]


def training_summary(ds: Dataset) -> dict[str, Any]:
    """What a manifest records about the training data, incl. the elements seen (the domain check uses them)."""
    elements = sorted({el.symbol for comp in ds.compositions for el in comp.elements})
    return {"dataset": ds.name, "n": len(ds), "data_hash": data_hash(ds), "elements": elements}


def library_versions() -> dict[str, str]:
    """Python, bulkmod and each installed one of :data:`LIBRARIES`, as a manifest records them."""
    out = {"python": platform.python_version()}
    for pkg in ("bulkmod", *LIBRARIES):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


class Estimator(ABC):
    """``fit(ds, y_log10, val=None)`` / ``predict(ds)`` / ``save(dir)`` / ``Estimator.load(dir)``."""

    # the registry key and family; build_model sets them on the instance when a key is a factory over a shared class
    # (umlip-hybrid over DescriptorModel), so the manifest names the model that was asked for
    key: ClassVar[str]
    family: ClassVar[str]
    # the layout of what save() writes (config keys, weights files, their contents): raise it when an older bulkmod
    # would misread what this class now saves, so that the older code refuses the model instead of guessing
    format_version: ClassVar[int] = 1
    # True: with inner_folds >= 2, fit() leaves out-of-fold predictions of the training rows in ``oof_log10``
    # and their calibrated std in ``oof_std_log10`` (an ensemble calibrates on them, wasting no rows)
    cross_fits: ClassVar[bool] = False

    def __init__(self) -> None:
        # what the model was asked to do, typed (a subclass of Options per estimator; a model with none keeps this
        # empty one); config() saves it, so an option added to the class is saved and loaded with no other change
        self.options: Options = Options()
        self.conformal: ConformalInterval | None = None
        self.train_info: dict[str, Any] = {}
        self.domain: DescriptorDomain | None = None  # set by `bulkmod train`; `predict` flags crystals outside it
        self.level = 0.9  # of the intervals predict() returns: a prediction-time choice, not saved

    def set_level(self, level: float) -> Self:
        """Intervals at ``level`` (any 0 < level < 1) from the same calibration scores."""
        check_level(level)
        if self.conformal is not None:
            self.conformal.half_width(level)  # refuses a level this model cannot give, before any crystal is read
        self.level = level
        return self

    @abstractmethod
    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self: ...

    @abstractmethod
    def predict(self, ds: Dataset) -> Prediction: ...

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the untrained estimator; it goes into the manifest.

        That is ``self.options`` plus what no options class holds (free-form library parameters, nested
        configurations, fitted transforms).
        """

    @abstractmethod
    def _write_weights(self, directory: Path) -> list[str]:
        """Write weights files; return their names."""

    @abstractmethod
    def _read_weights(self, directory: Path, manifest: dict) -> None:
        """Read the weights files, so that only files the manifest lists (and load verified) are read.

        Each goes through :func:`bulkmod.models.safety.listed_file` and a reader of :mod:`bulkmod.models.formats`.
        """

    def _with_intervals(self, pred: Prediction, scale: np.ndarray | None = None) -> Prediction:
        """Conformal bounds at ``self.level``; with a per-crystal ``scale`` (adaptive) also a Gaussian-equivalent std.

        The std comes from the 90 % bounds, so it does not depend on the level asked for.
        """
        if self.conformal is not None:
            pred.lo90_log10, pred.hi90_log10 = self.conformal.bounds(pred.mean_log10, level=self.level, scale=scale)
            if self.conformal.normalized:
                lo, hi = self.conformal.bounds(pred.mean_log10, scale=scale)
                pred.std_log10 = (hi - lo) / (2 * Z90)
        return pred

    def save(self, directory: Path | str, *, metrics: dict | None = None, name: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = self._write_weights(directory)
        manifest = {
            "format": MODEL_FORMAT,
            "name": name or directory.name,
            "model": self.key,
            "family": self.family,
            "format_version": self.format_version,
            "config": self.config(),
            "conformal": self.conformal.as_dict() if self.conformal else None,
            "train": self.train_info,
            **({"domain": self.domain.as_dict()} if self.domain else {}),
            "metrics": metrics or {},
            "weights": {f: sha256_file(directory / f) for f in files},
            "versions": library_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json_atomic(directory / MANIFEST, manifest)
        return directory

    @staticmethod
    def load(directory: Path | str) -> Estimator:
        """Load a saved model after checking its manifest and the path, type, size and sha256 of each weights file.

        Any file, manifest value or weights format that does not check out is a :class:`BulkmodError`.
        """
        directory = Path(directory)
        manifest = read_manifest(directory)
        verify_weights(directory, manifest)
        try:  # the manifest's config, conformal and domain: data a constructor may reject in its own way
            model = build_model(manifest["model"], **manifest["config"])
            model.train_info = manifest.get("train", {})
            if manifest.get("conformal"):
                model.conformal = ConformalInterval.from_dict(manifest["conformal"])
            if manifest.get("domain"):
                model.domain = DescriptorDomain.from_dict(manifest["domain"])
        except (BulkmodError, TypeError, ValueError, KeyError) as exc:
            # a newer bulkmod's config can fail here, before its format version is compared: say who wrote it
            writer = manifest.get("versions", {}).get("bulkmod")
            other = writer is not None and writer != library_versions().get("bulkmod")
            raise BulkmodError(
                f"{directory / MANIFEST}: cannot rebuild the {manifest['model']!r} model it describes ({exc}); "
                + (f"it was saved by {_writer(manifest)}: load it with that version, or " if other else "")
                + "re-save the model with bulkmod"
            ) from None
        check_versions(directory, manifest, model.format_version)
        model._read_weights(directory, manifest)
        return model


def _writer(manifest: dict[str, Any]) -> str:
    """Which bulkmod saved the model, for messages that tell the user to load it with that version."""
    return f"bulkmod {manifest.get('versions', {}).get('bulkmod', '(unknown version)')}"


def check_versions(directory: Path, manifest: dict[str, Any], format_version: int) -> None:
    """Refuse a model the code would misread, warn about one it reads with other libraries.

    Refused: a class format version above ``format_version`` (this code's), or descriptors from another feature code
    version (``config.features.version``: the same names would hold other numbers). Warned: a library of
    :data:`LIBRARIES` installed in another version than the one the model was saved with. A manifest without a
    format version (every model saved before it was recorded) is version 1.
    """
    saved = manifest.get("format_version", 1)
    if saved > format_version:
        raise BulkmodError(
            f"{directory}: saved in format version {saved} of the {manifest['model']!r} model by {_writer(manifest)}, "
            f"but this bulkmod reads up to version {format_version}: load it with the bulkmod version that wrote it, "
            "or retrain it with this one"
        )
    features = manifest["config"].get("features") or {}
    if isinstance(features, dict) and str(features.get("version", FEATURE_VERSION)) != FEATURE_VERSION:
        raise BulkmodError(
            f"{directory}: trained on feature code version {features['version']} ({_writer(manifest)}), but this "
            f"bulkmod computes version {FEATURE_VERSION}, whose descriptors differ: retrain the model with this "
            "bulkmod, or load it with the bulkmod version that wrote it"
        )
    installed = library_versions()
    recorded = manifest.get("versions", {})
    changed = [
        f"{pkg} {recorded[pkg]} (installed {installed[pkg]})"
        for pkg in LIBRARIES
        if pkg in recorded and pkg in installed and recorded[pkg] != installed[pkg]
    ]
    if changed:
        warnings.warn(
            f"{directory}: saved with {', '.join(changed)}; predictions may differ slightly from the model's "
            "recorded errors: retrain it to be sure",
            BulkmodWarning,
            stacklevel=3,
        )


def build_model(key: str, **config: Any) -> Estimator:
    """The untrained model a registry key names, with its options.

    This is how ``train``, a composite model's members and :meth:`Estimator.load` all build one.
    """
    if key not in MODELS:
        raise BulkmodError(f"unknown model {key!r}: use one of {', '.join(MODELS)} or a saved model directory")
    config.pop("backend", None)
    spec = MODELS[key]
    try:
        model = spec.factory(**config)
    except TypeError as exc:  # an option this model does not have, e.g. --epochs for a tree model
        raise BulkmodError(f"model {key!r} does not take that option ({exc})") from None
    model.key, model.family = key, spec.family  # the key asked for, which save() records and load() rebuilds
    return model
