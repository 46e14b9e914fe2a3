"""Shipped models and the resolution of ``--model NAME|DIR``.

Shipped models live in ``bulkmod/pretrained/<Arch-Dataset-Version-Target>/``, each with a README of its
cross-validated errors. The default follows one rule: the best cross-validated MAE among models that
carry calibrated intervals, run offline and predict in <= 1 s per crystal.
"""

from __future__ import annotations

from pathlib import Path

from bulkmod.errors import BulkmodError
from bulkmod.models.base import MANIFEST, Estimator
from bulkmod.models.registry import MODELS

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
# structure-routed on every labelled crystal (mp-kvrh-all), its structure model reading SevenNet-MF-0's E-V fit and
# how hard a strain pushes the ions (umlip-ions): best kfold MAE with calibrated intervals among the all-chemistry
# models (benchmarks/results/all_chemistry/); runs SevenNet (shipped in its wheel) at prediction time for crystals
# with a structure, and takes formula-only rows itself
DEFAULT_MODEL = "LGBMRoutedSevenNetMF0Ions-MPKVRHAll-v1-KVRH"
# the same recipe without umlip-ions, and before it on CHGNet's scan: kept under their names
PREVIOUS_DEFAULT = "LGBMRoutedSevenNetMF0-MPKVRHAll-v1-KVRH"
CHGNET_ROUTED_MODEL = "LGBMRoutedCHGNet-MPKVRHAll-v1-KVRH"
BINARY_BLEND_MODEL = "LGBMCHGNetBlend-MPBinary2025-v1-KVRH"  # the default of the binaries-only era
FAST_MODEL = "LGBM-MPBinary2025-v2-KVRH"  # descriptors only: no potential, for large screens
COMPOSITION_MODEL = "LGBM-MatbenchComp-v1-KVRH"  # the composition path, for inputs without structures
# a potential's own K, only its interval calibrated: SevenNet-MF-0 (the best zero-shot potential per cost), its
# clamped scan's K less the ions' harmonic softening (protocol=harmonic-ions; benchmarks/results/physics_prior/).
# The clamped-scan model before it, and CHGNet's, stay shipped under their names
ZERO_SHOT_MODEL = "SevenNetMF0HarmonicIonsEOS-MPBinary2025-v1-KVRH"
CLAMPED_ZERO_SHOT_MODEL = "SevenNetMF0EOS-MPBinary2025-v1-KVRH"
# the authors' pretrained MEGNet (weights fetched by sha256 on first use); the 2018 model under its own name
MEGNET_MODEL = "MEGNet-MP2019-v1-KVRH"
# "umlip-eos" and "megnet-pretrained" need no training, so their registry names resolve to shipped models too
ALIASES = {"default": DEFAULT_MODEL, "fast": FAST_MODEL, "zero-shot": ZERO_SHOT_MODEL, "umlip-eos": ZERO_SHOT_MODEL,
           "megnet-pretrained": MEGNET_MODEL}  # fmt: skip


def list_pretrained() -> list[str]:
    """The names of the shipped models, sorted; empty where none are installed."""
    return (
        sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / MANIFEST).exists()) if PRETRAINED_DIR.exists() else []
    )


def resolve_model_dir(name_or_dir: str | None) -> Path:
    """A saved-model directory, a shipped model name, or an alias (``default``, ``fast``, ``zero-shot``)."""
    name = ALIASES.get(name_or_dir or "default", name_or_dir)
    path = Path(name)
    if path.is_dir():
        return path
    if (PRETRAINED_DIR / name / MANIFEST).exists():
        return PRETRAINED_DIR / name
    if name in MODELS:
        raise BulkmodError(
            f"model {name!r} is a registry model with no trained weights: train it first with "
            f"`bulkmod train --model {name} --dataset mp-binary-2025 --out models/{name}`, "
            f"then pass --model models/{name}"
        )
    shipped = ", ".join(list_pretrained()) or "none"
    raise BulkmodError(f"model {name!r}: no such directory or shipped model (shipped: {shipped})")


def load_model(name_or_dir: str | None) -> Estimator:
    """Load a saved model by directory, shipped name or alias, as :func:`resolve_model_dir` finds it."""
    return Estimator.load(resolve_model_dir(name_or_dir))
