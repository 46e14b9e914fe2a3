"""Deep-ensemble-style uncertainty for any registry model: N members, their spread, a calibrated interval.

Members differ by seed (and optionally by bootstrap resampling, or with ``vary=hyper`` by LightGBM settings)
and are trained as parallel tasks: a local spawn pool of ``n_jobs`` processes, or Ray tasks when the run uses
``--backend ray``.

Calibration never touches the test fold. Members that cross-fit (descriptor models with ``inner_folds`` >= 2,
the default here) leave out-of-fold predictions and stds of every training row; the ensemble calibrates a
normalised conformal interval on them, so every member trains on every row and each picks its boosting
rounds on 5 inner folds instead of one noisy 10 % hold-out (the old design lost to its best member).
Other members (graph models, bootstrap) fall back to a calibration split of ``calib_fraction``; with
``refit`` (default) they are then retrained on every row, keeping that calibration (conservative).

The scale (``sigma``):

- ``disagreement`` (default): how much models trained on different subsets disagree. Cross-fitted members
  calibrate on the std of their out-of-fold predictions (each from an inner model trained on 80 % of the rows,
  on a split that differs by member) and predict with the std over all their kept inner-fold models, the same
  kind of models; other members use the std of the members themselves at calibration and at test.
- ``mixture``: sqrt(mean of the members' own variances + variance of their means). With cross-fitted members
  it is inconsistent: at test the members all trained on the same rows and barely disagree, so the scale
  shrinks and the interval under-covers out of distribution (0.77 on ood-elastic2015 against 0.94 for
  ``disagreement``, ``benchmarks/results/ensemble_spread/ensemble_spread_exploration.json``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Estimator, Prediction, build_model, training_summary
from bulkmod.models.composite import CompositeEstimator
from bulkmod.models.options import Options, take_options
from bulkmod.models.registry import MODELS, register
from bulkmod.parallel import current
from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.scale import disagreement_std, mixture_std

# vary=hyper: LightGBM settings of members 0-4 (cycled), fixed a priori around the defaults, never tuned on test
# or ood crystals; member 0 is the plain default. Tree shape and regularisation differ, so members' errors are
# less alike than those of seeds alone (benchmarks/exploration/hyper_ensemble.py).
HYPER_LGBM: tuple[dict[str, Any], ...] = (
    {},
    {"num_leaves": 15, "min_data_in_leaf": 20},
    {"num_leaves": 63, "min_data_in_leaf": 5, "feature_fraction": 0.3},
    {"feature_fraction": 0.8, "lambda_l2": 5.0},
    {"extra_trees": True, "num_leaves": 63},
)


def _fit_member(args: tuple[str, dict, Dataset, np.ndarray]) -> Estimator:
    key, config, ds, y = args
    return build_model(key, **config).fit(ds, y)


def _mixture(means: list[np.ndarray], stds: list[np.ndarray | None]) -> Prediction:
    """Mean and std of an equal-weight mixture of the members (their spread alone where a member has no std)."""
    return Prediction(np.stack(means).mean(0), mixture_std(means, stds))


@dataclass(frozen=True)
class EnsembleOptions(Options):
    """An ensemble's own options; everything else it is given configures its members.

    ``member``: the registry key of every member; ``members``: how many; ``bootstrap``: each trains on a
    bootstrap resample; ``calib_fraction``: the calibration split of members that do not cross-fit, which with
    ``refit`` are retrained on every row afterwards; ``n_jobs``: local worker processes (None: one per member, up
    to the CPUs); ``temper``: scale by std ** p, p chosen as for ``interval=tempered``; ``sigma`` and ``vary``:
    the module docstring; ``seed``: member i gets seed + i.
    """

    member: str = "lgbm"
    members: int = 5
    bootstrap: bool = False
    calib_fraction: float = 0.15
    n_jobs: int | None = None
    refit: bool = True
    temper: bool = False
    sigma: Literal["disagreement", "mixture"] = "disagreement"
    vary: Literal["seed", "hyper"] = "seed"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.member in ("ensemble", "mean") or self.members < 2 or not 0 < self.calib_fraction < 0.5:
            raise BulkmodError("ensemble: member must be a trainable model, members >= 2, 0 < calib_fraction < 0.5")


@register("ensemble", "ensemble", "N members of any model (--param member=lgbm --param members=5), calibrated spread")
class EnsembleModel(CompositeEstimator):
    """N members of one model, their mean predicted with a calibrated spread.

    ``options`` (keywords, or ``params`` from ``--param``): the fields of :class:`EnsembleOptions`; every other
    keyword, and the rest of ``params``, configures each member.
    """

    key: ClassVar[str] = "ensemble"
    family: ClassVar[str] = "ensemble"

    def __init__(self, *, params: dict | None = None, **config: Any) -> None:
        super().__init__()
        self.options, member_config, rest = take_options(EnsembleOptions, config, params, model=self.key)
        if self.options.member not in MODELS:  # the member is built in fit; its key is checked now
            raise BulkmodError(f"ensemble: unknown member {self.options.member!r}: use one of {', '.join(MODELS)}")
        self.member_config = member_config | ({"params": rest} if rest else {})
        self.cross_fit = False  # whether the members calibrated the ensemble from their own inner folds (fit says)

    def config(self) -> dict[str, Any]:
        return self.member_config | self.options.as_dict()

    def n_members(self) -> int:
        return self.options.members

    def _member_plan(self) -> tuple[bool, dict[str, Any]]:
        """Whether members can calibrate the ensemble from their own inner folds, and the config each member gets.

        With cross-fitting, members get 5 inner folds unless told, and for ``sigma=disagreement`` their inner
        models kept. (Also where ``vary=hyper`` is checked: both look at one member built from the shared config.)
        """
        opts, config = self.options, dict(self.member_config)
        probe = build_model(opts.member, **config)
        if opts.vary == "hyper" and getattr(probe, "backend", "") != "lgbm":
            raise BulkmodError(f"ensemble: vary=hyper varies LightGBM settings; member {opts.member!r} is not LightGBM")
        inner = config.get("inner_folds", 5)
        if opts.bootstrap or inner < 2 or not probe.cross_fits:
            return False, config
        config["inner_folds"] = inner
        if opts.sigma == "disagreement":  # the inner-fold models are what the test-time spread is taken over
            config["keep_inner"] = True
            config.setdefault("interval", "constant")  # members' own sigma models would go unused
        return True, config

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        opts = self.options
        rng = np.random.default_rng(opts.seed)
        self.cross_fit, member_config = self._member_plan()
        if self.cross_fit:
            self.members = self._fit_members(member_config, ds, y_log10, np.arange(len(ds)), rng)
            oof = self._spread([m.oof_log10 for m in self.members], [m.oof_std_log10 for m in self.members], None)
            self.conformal = ConformalInterval.normalised(oof.mean_log10 - y_log10, oof.std_log10, tempered=opts.temper)
            self.train_info = training_summary(ds) | {"calibration": "cross-fit", "n_calibration": len(ds),
                                                      "n_member_train": len(ds)}  # fmt: skip
            return self
        perm = rng.permutation(len(ds))
        cut = max(2, int(len(ds) * opts.calib_fraction))
        calib, train = np.sort(perm[:cut]), np.sort(perm[cut:])
        self.members = self._fit_members(member_config, ds, y_log10, train, rng)
        cal = self._combine(ds.subset(calib))
        self.conformal = ConformalInterval.normalised(
            cal.mean_log10 - y_log10[calib], cal.std_log10, tempered=opts.temper
        )
        if opts.refit:
            self.members = self._fit_members(member_config, ds, y_log10, np.arange(len(ds)), rng)
        n_member = len(ds) if opts.refit else len(train)
        self.train_info = training_summary(ds) | {"calibration": "split", "n_calibration": len(calib),
                                                  "n_member_train": n_member}  # fmt: skip
        return self

    def _fit_members(
        self, member_config: dict, ds: Dataset, y_log10: np.ndarray, rows: np.ndarray, rng: np.random.Generator
    ) -> list[Estimator]:
        opts, jobs = self.options, []
        for i in range(opts.members):
            pick = np.sort(rng.choice(rows, size=len(rows), replace=True)) if opts.bootstrap else rows
            config = member_config | {"seed": opts.seed + i}
            if opts.vary == "hyper":
                config["params"] = config.get("params", {}) | HYPER_LGBM[i % len(HYPER_LGBM)]
            jobs.append((opts.member, config, ds.subset(pick), y_log10[pick]))
        n_jobs = opts.n_jobs or min(opts.members, os.cpu_count() or 1)
        return current().map(_fit_member, jobs, local_workers=n_jobs)

    def _combine(self, ds: Dataset) -> Prediction:
        if self.cross_fit and self.options.sigma == "disagreement":  # mixture members keep no inner-fold models
            pairs = [m.predict_with_inner(ds) for m in self.fitted_members()]
            preds, inner = [p for p, _ in pairs], np.concatenate([i for _, i in pairs])
        else:
            preds, inner = [m.predict(ds) for m in self.fitted_members()], None
        pred = self._spread([p.mean_log10 for p in preds], [p.std_log10 for p in preds], inner)
        pred.errors = self.merged_errors(preds)
        return pred

    def _spread(self, means: list[np.ndarray], stds: list[np.ndarray | None], inner: np.ndarray | None) -> Prediction:
        """The members' mean and the ensemble's scale.

        The scale is their mixture, or the disagreement of ``inner`` models (the members themselves where there
        are none).
        """
        if self.options.sigma == "mixture":
            return _mixture(means, stds)
        stack = np.stack(means)
        return Prediction(stack.mean(0), disagreement_std(stack if inner is None else inner))

    def predict(self, ds: Dataset) -> Prediction:
        pred = self._combine(ds)
        return self._with_intervals(pred, scale=pred.std_log10)  # std becomes the calibrated one

    @property
    def scale_name(self) -> str:
        return f"ensemble {self.options.sigma}"

    def scale(self, ds: Dataset) -> np.ndarray | None:
        """σ(x): the members' disagreement or mixture std, per ``sigma``.

        This is the :class:`~bulkmod.uncertainty.scale.ScaleProvider` side of an ensemble.
        """
        return self._combine(ds).std_log10

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        super()._read_weights(directory, manifest)
        self.cross_fit = self.train_info.get("calibration") == "cross-fit"  # as fit recorded it
