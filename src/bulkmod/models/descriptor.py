"""Descriptor models: features -> tree ensemble, with nested early stopping and conformal intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features import FeatureConfig, featurize
from bulkmod.features.featurizer import DEFAULT_COMPOSITION_GROUPS
from bulkmod.io import atomic_path
from bulkmod.models.base import Estimator, Prediction, training_summary
from bulkmod.models.boosters import Booster, check_booster_params, make_booster
from bulkmod.models.neighbours import NEIGHBOUR_FILE, NeighbourKeys, NeighbourStacker, neighbour_config, neighbour_names
from bulkmod.models.options import Loss, Options, listing, parse_options, split_options
from bulkmod.models.registry import register
from bulkmod.models.safety import MANIFEST, listed_file, model_subdir, required
from bulkmod.models.transforms import BaselineOffset, TargetTransform
from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.constants import Z90
from bulkmod.uncertainty.crossfit import cross_fit, kfold
from bulkmod.uncertainty.residual_scale import ResidualScaleModel

HOLDOUT_FRACTION = 0.1
SIGMA_FILE = "sigma.lgbm.txt"
SIGMA_PARAMS = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
                "feature_fraction": 0.5}  # fmt: skip
SIGMA_ROUNDS = 300
STACK_DIR = "stack"  # the composition model whose prediction a stacked model reads, saved as a sub-model
# "tempered": sigma ** power, the power giving the narrowest calibrated intervals on the training part.
# On ood-elastic2015 the fully adaptive band under-covered (0.81): the test crystals look easy to the sigma
# model (same median sigma) but err more (median |error| 0.032 vs 0.022), and sigma ** 0.5 was both
# narrower in distribution and more robust there (benchmarks/exploration/adaptive_ood.py).
# the same three losses the neural models offer, as each booster's objective
LOSS_OBJECTIVES = {
    "mse": {"lgbm": {}, "rf": {}, "xgb": {}},
    "huber": {
        "lgbm": {"objective": "huber", "alpha": 1.0},
        "rf": {"objective": "huber", "alpha": 1.0},
        "xgb": {"objective": "reg:pseudohubererror"},
    },
    "l1": {
        "lgbm": {"objective": "regression_l1"},
        "rf": {"objective": "regression_l1"},
        "xgb": {"objective": "reg:absoluteerror"},
    },
}


Interval = Literal["adaptive", "tempered", "constant"]
Stack = Literal[False, True, "auto"]


@dataclass(frozen=True)
class DescriptorOptions(Options):
    """A descriptor model's options (:class:`DescriptorModel` says what each does).

    It leaves out the booster's own parameters and the nested feature and target configurations.
    """

    inner_folds: int = 1
    candidates: list[dict] | None = None
    interval: Interval = "adaptive"
    loss: Loss = "mse"
    baseline: Literal["umlip-eos"] | None = None
    neighbours: bool | dict | None = None
    keep_inner: bool = False
    stack: Stack = False
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "neighbours", neighbour_config(self.neighbours))  # True -> the default settings
        if self.keep_inner and self.neighbours:
            raise BulkmodError("keep_inner: inner models with neighbour features cannot be queried later; drop one")


@dataclass
class _InnerData:
    """What the nested selection scores candidates on, shared by the candidates so all are scored alike.

    The training matrix (every candidate's columns), the transformed target and the inner folds; with ``val``, its
    matrix and target instead of folds; the neighbour keys where a candidate uses neighbour features, and each
    fold's blocks once computed.
    """

    X: np.ndarray
    z: np.ndarray
    y_log10: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    union: FeatureConfig
    Xv: np.ndarray | None = None
    zv: np.ndarray | None = None
    keys: NeighbourKeys | None = None
    val_keys: NeighbourKeys | None = None
    neighbour_blocks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class DescriptorModel(Estimator):
    """A tree ensemble on bulkmod descriptors.

    Nested by construction: the number of boosting rounds, and the best of optional ``candidates``
    (feature groups and/or booster parameters), are chosen on folds carved from the training data only
    (``inner_folds``); with ``inner_folds >= 2`` the out-of-fold residuals of those inner models also
    calibrate a split-conformal 90 % interval (``interval``: adaptive, tempered or constant; it may also
    come as ``--param interval=...``).

    ``neighbours`` (``True``, ``{"folds": F}``, or ``--param neighbours=true``) appends neighbour-target
    features (:mod:`bulkmod.models.neighbours`: training log10 K of the same formula, polymorphs, nearest
    compositions). The booster only ever sees them out of fold (F-fold within whatever rows it is trained
    on, so never from a row's own target); inner validation rows and predictions get them from the rows the
    booster was trained on. A candidate may set ``"neighbours": true|false`` so the choice is nested too.

    ``keep_inner`` keeps the chosen candidate's inner-fold boosters (saved as ``inner_<k>.*``) so
    :meth:`predict_with_inner` can say how models trained on different subsets disagree about a new crystal:
    the ensemble's ``sigma=disagreement`` scale.

    ``stack`` (``--param stack=true|auto``) appends one feature: the log10 K that a composition + space-group
    LightGBM, trained on the same rows, predicts. The booster sees it out of fold (the composition model's own
    inner folds) and predictions get the composition model's; on a join where most rows have no structure it
    carries what every row teaches about a composition into the structure rows. ``auto`` lets the nested
    selection choose with or without it, per candidate.
    """

    family: ClassVar[str] = "descriptor"
    cross_fits: ClassVar[bool] = True
    scale_name: ClassVar[str] = ResidualScaleModel.scale_name

    def __init__(
        self,
        backend: str,
        *,
        features: dict | None = None,
        transform: dict | None = None,
        params: dict | None = None,
        **options: Any,
    ) -> None:
        """Options and booster parameters; options may come in ``params`` too, as the command line passes them.

        ``options``: the fields of :class:`DescriptorOptions`; ``params``: booster parameters, and options too
        (``--param interval=tempered``; there they win over the keywords).
        """
        super().__init__()
        own, booster = split_options(DescriptorOptions, params)
        self.options = parse_options(DescriptorOptions, options | own, model=backend)
        check_booster_params(backend, booster, own=listing(DescriptorOptions))
        self.key = backend
        self.backend = backend
        self.features = FeatureConfig.from_dict(features) if features else None
        self.transform = TargetTransform.from_dict(transform) if transform else TargetTransform()
        self.params = {**LOSS_OBJECTIVES[self.options.loss][backend], **booster}
        if self.options.baseline and self.transform.space != "log10":
            raise BulkmodError("a baseline offset is a ratio: it needs the log10 target space")
        self.rounds: int | None = None
        self._booster = None
        self._baseline: BaselineOffset | None = None  # with baseline: what the target is taken relative to
        self._neighbours: NeighbourStacker | None = None  # training targets behind the neighbour features
        self._sigma: ResidualScaleModel | None = None  # the per-crystal scale of adaptive intervals
        self._inner: list = []  # with keep_inner: the chosen candidate's inner-fold boosters
        self._stack: Estimator | None = None  # with stack: the composition model behind the stacked feature
        # set by a composite before fit: a composition model fitted on more rows than this one sees, and its
        # out-of-fold predictions of this model's training rows (the structure member of a routed model)
        self.stack_with: tuple[Estimator, np.ndarray] | None = None
        self._stack_shared = False  # the stacked model belongs to a composite, which saves and restores it
        self.oof_log10: np.ndarray | None = None  # inner out-of-fold predictions (training rows), for calibration
        self.oof_std_log10: np.ndarray | None = None  # their calibrated std: an ensemble combines both

    def config(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "features": self.features.as_dict() if self.features else None,
            "transform": self.transform.as_dict(),
            "params": self.params,
        } | self.options.as_dict()

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        base = (self.features or FeatureConfig.default_for(ds)).for_data(ds)
        candidates = self._candidates(base)
        union = replace(base, groups=tuple(dict.fromkeys(g for gs, *_ in candidates for g in (*base.groups, *gs))))
        X = self._stacked_feature(ds, y_log10, self._descriptors(ds, union), candidates)
        self._baseline = BaselineOffset().fit(y_log10) if self.options.baseline else None
        self.train_info = {"baseline_fill": self._baseline.fill} if self._baseline else {}
        delta = self._delta(y_log10, X, union)
        z = self.transform.fit(delta).forward(delta)
        data = _InnerData(X, z, y_log10, self._inner_folds(len(z), candidates, val), union)
        if val is not None:
            data.Xv = featurize(val, union)[0]
            if self._stack is not None:
                data.Xv = np.hstack([data.Xv, self._stack.predict(val).mean_log10[:, None]])
            data.zv = self.transform.forward(self._delta(val.y_log10, data.Xv, union))
        if any(nb for _, _, nb, _ in candidates):
            data.keys = self._neighbour_keys(ds, X, union)
            data.val_keys = self._neighbour_keys(val, data.Xv, union) if val is not None else None
        keep_inner = self.options.keep_inner and self.options.inner_folds >= 2 and val is None
        trials = [self._score_candidate(data, base, *c, keep_inner=keep_inner) for c in candidates]
        best = min(trials, key=lambda t: t["inner_mae_log10"])
        Xfit = self._fit_chosen(data, base, best)
        if self.options.inner_folds >= 2 and val is None:
            self.oof_log10 = self._to_log10(best["oof"], X, union)
            resid = self.oof_log10 - y_log10
            if self.options.interval != "constant":
                self._calibrate_scaled(Xfit, resid, data.folds)
            else:
                self.conformal = ConformalInterval.from_residuals(resid)
        self.train_info |= training_summary(ds) | {"rounds": self.rounds}
        if len(trials) > 1:
            self.train_info["selection"] = [
                {k: t[k] for k in ("features", "params", "neighbours", "stack", "rounds", "inner_mae_log10")}
                for t in trials
            ]
        return self

    def _candidates(self, base: FeatureConfig) -> list[tuple[tuple[str, ...], dict, dict | None, bool]]:
        """Every (feature groups, booster parameters, neighbour settings, stack) the nested selection scores.

        The model's own settings, or each of ``candidates`` on them, each with and without the stacked feature under
        ``stack=auto``. A baseline needs its E–V group in all of them: the offset is taken before any is chosen.
        """
        stacks = [False, True] if self.options.stack == "auto" else [self.options.stack]
        candidates = [
            (tuple(c.get("features", base.groups)), self.params | c.get("params", {}), self._candidate_neighbours(c), s)
            for c in self.options.candidates or [{}]
            for s in stacks
        ]
        baseline = self.options.baseline
        if baseline and not all(baseline in groups for groups, *_ in candidates):
            raise BulkmodError(f"baseline {baseline!r} needs the {baseline!r} feature group in every candidate")
        return candidates

    @staticmethod
    def _descriptors(ds: Dataset, cfg: FeatureConfig) -> np.ndarray:
        """Training descriptors; unlike prediction, a row that cannot be featurised stops the fit.

        Silently dropping training rows would change what the folds, the conformal quantile and a saved model's
        summary refer to.
        """
        X, errors = featurize(ds, cfg)
        if errors:
            i, why = next(iter(errors.items()))
            raise BulkmodError(f"{ds.name}: {len(errors)} rows could not be featurised, e.g. {ds.ids[i]}: {why}")
        return X

    def _stacked_feature(self, ds: Dataset, y_log10: np.ndarray, X: np.ndarray, candidates: list) -> np.ndarray:
        """``X`` with the composition model's log10 K as its last column where a candidate stacks.

        Out of fold, so the booster never reads a prediction made from a row's own target; a composite may hand in a
        composition model fitted on more rows than this one sees (``stack_with``).
        """
        self._stack = None
        if not any(st for *_, st in candidates):
            return X
        if self.stack_with is None:
            self._stack = self._composition_model().fit(ds, y_log10)
            oof = self._stack.oof_log10
        else:
            self._stack, oof = self.stack_with
        self._stack_shared = self.stack_with is not None
        return np.hstack([X, np.asarray(oof, float)[:, None]])

    def _inner_folds(self, n: int, candidates: list, val: Dataset | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Where the nested selection chooses candidates and boosting rounds: inner folds, a hold-out or nothing.

        No folds with ``val`` (it is the early-stopping set), ``inner_folds`` K-fold (their out-of-fold predictions
        also calibrate the interval), else one 10 % hold-out, or none for a lone fixed-round forest, which a hold-out
        has nothing to choose for.
        """
        if val is not None:
            return []
        if self.options.inner_folds >= 2:
            return kfold(n, self.options.inner_folds, self.options.seed)
        if len(candidates) == 1 and not make_booster(self.backend, self.params, self.options.seed).early_stops:
            return []
        perm = np.random.default_rng(self.options.seed).permutation(n)
        cut = max(1, int(n * HOLDOUT_FRACTION))
        return [(perm[cut:], perm[:cut])]

    def _neighbour_features(
        self, data: _InnerData, k: int, tr: np.ndarray, te: np.ndarray | None, nb: dict
    ) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour features of inner fold ``k`` (``te`` None: the validation rows), free of each row's own target.

        Out of fold on its training rows, so the booster never sees a row's own target, and from those training rows
        on its test rows, as a prediction gets them. Computed once per fold and neighbour setting, then shared by the
        candidates.
        """
        if (k, nb["folds"]) not in data.neighbour_blocks:
            stacker = NeighbourStacker(nb["folds"], self.options.seed)
            fitted = stacker.fit_transform(data.keys.subset(tr), data.y_log10[tr])
            held_out = stacker.transform(data.keys.subset(te) if te is not None else data.val_keys)
            data.neighbour_blocks[k, nb["folds"]] = (fitted, held_out)
        return data.neighbour_blocks[k, nb["folds"]]

    def _score_candidate(
        self,
        data: _InnerData,
        base: FeatureConfig,
        groups: tuple[str, ...],
        params: dict,
        nb: dict | None,
        st: bool,
        *,
        keep_inner: bool,
    ) -> dict[str, Any]:
        """One candidate fitted on each inner fold's training rows and scored on its held-out rows (or on ``val``).

        The selection is nested, never touching a test fold, and the chosen candidate's out-of-fold predictions are
        the honest residuals that calibrate the interval.
        """
        column = {n: i for i, n in enumerate(data.union.names())}
        names = replace(base, groups=groups).names()
        cols = np.array([column[n] for n in names] + ([data.X.shape[1] - 1] if st else []))  # predict()'s order
        rounds, boosters = [], []

        def fit_fold(k: int, tr: np.ndarray, te: np.ndarray | None) -> np.ndarray:
            """Fit on inner fold k's training rows, early-stopped on (and predicting) its test rows or ``val``."""
            X, z = data.X, data.z
            Xtr, Xte, zte = (
                X[tr][:, cols],
                (data.Xv if te is None else X[te])[:, cols],
                data.zv if te is None else z[te],
            )
            if nb:
                Ntr, Nte = self._neighbour_features(data, k, tr, te, nb)
                Xtr, Xte = np.hstack([Xtr, Ntr]), np.hstack([Xte, Nte])
            booster = make_booster(self.backend, params, self.options.seed)
            rounds.append(booster.train(Xtr, z[tr], (Xte, zte), None))
            boosters.append(booster)
            return booster.predict(Xte)

        n = len(data.z)
        if data.zv is None:
            oof = cross_fit(data.folds, n, fit_fold)
            score = [self._log10_mae(oof[te], data.z[te]) for _, te in data.folds]
        else:
            oof, score = np.full(n, np.nan), [self._log10_mae(fit_fold(0, np.arange(n), None), data.zv)]
        return {
            "features": list(groups),
            "params": params,
            "neighbours": nb,
            "stack": st,
            "rounds": int(np.median(rounds)) if rounds else None,
            "inner_mae_log10": float(np.mean(score)) if score else np.nan,
            "cols": cols,
            "oof": oof,
            "boosters": boosters if keep_inner else [],
        }

    def _fit_chosen(self, data: _InnerData, base: FeatureConfig, best: dict[str, Any]) -> np.ndarray:
        """Adopt the selected candidate and refit it on every training row for its median inner round count.

        The options record the choice, so a refit or a saved model uses it. Returns the final booster's matrix: the
        sigma model reads the same features.
        """
        self.features = replace(base, groups=tuple(best["features"]))
        self.params, self.rounds = best["params"], best["rounds"]
        if not best["stack"]:
            self._stack = None
        self.options = self.options.replace(neighbours=best["neighbours"], stack=best["stack"])
        Xfit, self._neighbours, self._inner = data.X[:, best["cols"]], None, best["boosters"]
        if self.options.neighbours:  # out of fold on every training row; predictions look up the whole table
            self._neighbours = NeighbourStacker(self.options.neighbours["folds"], self.options.seed)
            Xfit = np.hstack([Xfit, self._neighbours.fit_transform(data.keys, data.y_log10)])
        self._booster = make_booster(self.backend, self.params, self.options.seed)
        self.rounds = self._booster.train(Xfit, data.z, None, self.rounds)
        return Xfit

    def predict_with_inner(self, ds: Dataset) -> tuple[Prediction, np.ndarray]:
        """The prediction and the kept inner-fold boosters' predictions, from one featurisation for all of them.

        The inner-fold ones are the (inner folds, rows) log10 predictions of the boosters kept with ``keep_inner``.
        """
        if not self._inner:
            raise BulkmodError("no inner-fold models: fit with keep_inner=True and inner_folds >= 2")
        X, errors = self._matrix(ds)
        out = np.stack([self._to_log10(b.predict(X), X, self.features) for b in self._inner])
        out[:, list(errors)] = np.nan
        return self._predict_matrix(X, errors), out

    def share_stack(self, model: Estimator) -> None:
        """Give a loaded model the composition model its composite saved for it (see ``stack_with``)."""
        self._stack, self._stack_shared = model, True

    def _composition_model(self) -> DescriptorModel:
        """The stacked feature's model: LightGBM on composition and space group, cross-fitted on 5 inner folds."""
        composition = FeatureConfig(DEFAULT_COMPOSITION_GROUPS).as_dict()
        folds = max(self.options.inner_folds, 5)
        return DescriptorModel(
            "lgbm", features=composition, inner_folds=folds, interval="constant", seed=self.options.seed
        )

    def _candidate_neighbours(self, candidate: dict) -> dict | None:
        """A candidate's ``"neighbours"`` (true: the model's own options, else the defaults); absent: the model's."""
        value = candidate.get("neighbours", self.options.neighbours is not None)
        return (self.options.neighbours or neighbour_config(True)) if value is True else neighbour_config(value)

    @staticmethod
    def _neighbour_keys(ds: Dataset, X: np.ndarray, cfg: FeatureConfig) -> NeighbourKeys:
        """Neighbour look-up keys; the space group is the one the features use (given, or found from structure)."""
        if "spacegroup" in cfg.groups:
            spg = X[:, cfg.names().index("spg_number")]
        elif ds.spacegroup is not None or not ds.has_structures:
            spg = None  # the dataset's own (0 = unknown where it has none)
        else:
            spg = featurize(ds, replace(cfg, groups=("spacegroup",)))[0][:, 0]
        return NeighbourKeys.from_dataset(ds, spg)

    def _residual_scale(self) -> ResidualScaleModel:
        """The adaptive interval's scale: a LightGBM model of log|residual| on the final booster's matrix."""
        return ResidualScaleModel(partial(make_booster, "lgbm", SIGMA_PARAMS, self.options.seed), SIGMA_ROUNDS)

    def _calibrate_scaled(self, X: np.ndarray, resid: np.ndarray, inner: list) -> None:
        """Normalised conformal on the inner folds' residuals, so the interval widens where errors are larger.

        The residuals are scaled by a residual model cross-fitted on the same folds (so no score uses a scale that saw
        its row); "tempered" picks the power by calibrated width.
        """
        self._sigma = self._residual_scale()
        sigma_oof = self._sigma.fit(X, resid, inner)
        self.conformal = ConformalInterval.normalised(resid, sigma_oof, tempered=self.options.interval == "tempered")
        self.oof_std_log10 = self.conformal.q90 * sigma_oof**self.conformal.power / Z90

    def _delta(self, y_log10: np.ndarray, X: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
        """log10 K relative to the baseline (as it is without one): what the target transform standardises."""
        return self._baseline.forward(y_log10, X, cfg.names()) if self._baseline else y_log10

    def _to_log10(self, z: np.ndarray, X: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
        """log10 K from the booster's output on the rows of ``X``: the target transform undone, the baseline added."""
        delta = self.transform.inverse(z)
        return self._baseline.inverse(delta, X, cfg.names()) if self._baseline else delta

    def _log10_mae(self, z_pred: np.ndarray, z_true: np.ndarray) -> float:
        return float(np.mean(np.abs(self.transform.inverse(z_pred) - self.transform.inverse(z_true))))

    def predict(self, ds: Dataset) -> Prediction:
        return self._predict_matrix(*self._matrix(ds))

    def scale(self, ds: Dataset) -> np.ndarray | None:
        """σ(x) of the adaptive interval (:class:`~bulkmod.uncertainty.scale.ScaleProvider`).

        The sigma model's exp(predicted log|residual|); None with a constant interval.
        """
        return self._scale(self._matrix(ds)[0])

    def _scale(self, X: np.ndarray) -> np.ndarray | None:
        return self._sigma.scale(X) if self._sigma is not None else None

    def _matrix(self, ds: Dataset) -> tuple[np.ndarray, dict[int, str]]:
        """Descriptors of ``ds`` (with neighbour features where the model uses them) and the rows that failed."""
        if self._booster is None:
            raise BulkmodError("model is not fitted")
        X, errors = featurize(ds, self.features)
        if self.options.stack and self._stack is None:
            raise BulkmodError(
                "the stacked feature's composition model is missing: load the composite model it was saved in"
            )
        if self._stack is not None and len(X):
            X = np.hstack([X, self._stack.predict(ds).mean_log10[:, None]])
        if self._neighbours is not None and len(X):
            X = np.hstack([X, self._neighbours.transform(self._neighbour_keys(ds, X, self.features))])
        return X, errors

    def _predict_matrix(self, X: np.ndarray, errors: dict[int, str]) -> Prediction:
        mean = self._to_log10(self._booster.predict(X), X, self.features) if len(X) else np.empty(0)
        for i in errors:
            mean[i] = np.nan
        return self._with_intervals(Prediction(mean_log10=mean, errors=errors), scale=self._scale(X))

    def _write_weights(self, directory: Path) -> list[str]:
        files: dict[str, Booster | ResidualScaleModel] = {self._booster.weights_file: self._booster}
        if self._sigma is not None:
            files[SIGMA_FILE] = self._sigma
        files |= {f"inner_{k}.{b.weights_file}": b for k, b in enumerate(self._inner)}
        for name, booster in files.items():
            with atomic_path(directory / name) as tmp:
                booster.save(tmp)
        written = list(files)
        if self._stack is not None and not self._stack_shared:  # a shared one is saved by its composite
            self._stack.save(directory / STACK_DIR)
            written += [f"{STACK_DIR}/{p.name}" for p in sorted((directory / STACK_DIR).iterdir()) if p.is_file()]
        if self._neighbours is not None:
            self._neighbours.save(directory / NEIGHBOUR_FILE)
            written.append(NEIGHBOUR_FILE)
        return written

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        listed = manifest["weights"]
        features = required(directory, self.features, "config.features")
        # every booster sees the descriptors, plus the neighbour features where a table is saved
        n_features = len(features.names()) + (len(neighbour_names()) if NEIGHBOUR_FILE in listed else 0)
        self._stack = None
        if self.options.stack:  # saved with the model, or (stack_with) handed back by the composite that owns it
            if any(name.startswith(f"{STACK_DIR}/") for name in listed):
                self._stack = Estimator.load(model_subdir(directory, STACK_DIR))
            n_features += 1

        def read(backend: str, params: dict, name: str | None = None) -> Booster:
            booster = make_booster(backend, params, self.options.seed)
            booster.load(listed_file(directory, manifest, name or booster.weights_file), n_features)
            return booster

        self._booster = read(self.backend, self.params)
        self._baseline = BaselineOffset(self.train_info.get("baseline_fill")) if self.options.baseline else None
        self._sigma = None
        if SIGMA_FILE in listed:
            self._sigma = self._residual_scale()
            self._sigma.load(listed_file(directory, manifest, SIGMA_FILE), n_features)
        if self.conformal is not None and self.conformal.normalized and self._sigma is None:
            raise BulkmodError(
                f"{directory / MANIFEST}: an adaptive interval needs {SIGMA_FILE}, not listed; re-save the model"
            )
        if NEIGHBOUR_FILE in listed:  # the folds only matter to a refit, which starts a new stacker
            folds = (self.options.neighbours or neighbour_config(True))["folds"]
            self._neighbours = NeighbourStacker(folds, self.options.seed)
            self._neighbours.load(listed_file(directory, manifest, NEIGHBOUR_FILE))
        elif self.options.neighbours:
            raise BulkmodError(f"{directory}: the model uses neighbour features but {NEIGHBOUR_FILE} is not listed")
        self._inner = []
        while (name := f"inner_{len(self._inner)}.{self._booster.weights_file}") in listed:
            self._inner.append(read(self.backend, self.params, name))
        self.rounds = manifest.get("train", {}).get("rounds")


@register("mean", "baseline", "training mean of log10 K (matbench 'dummy')")
class MeanModel(Estimator):
    """Predicts the training mean of log10 K: the floor every model must beat (matbench's 'dummy')."""

    key: ClassVar[str] = "mean"
    family: ClassVar[str] = "baseline"

    def __init__(self, value: float | None = None) -> None:
        super().__init__()
        self.value = value

    def config(self) -> dict[str, Any]:
        return {"value": self.value}

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        self.value = float(np.mean(y_log10))
        self.train_info = training_summary(ds)
        return self

    def predict(self, ds: Dataset) -> Prediction:
        return Prediction(mean_log10=np.full(len(ds), self.value))

    def _write_weights(self, directory: Path) -> list[str]:
        return []

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        pass


def _booster_model(backend: str) -> Callable[..., DescriptorModel]:
    """The registry factory of a booster key: a :class:`DescriptorModel` on that booster."""

    def build(**config: Any) -> DescriptorModel:
        return DescriptorModel(backend, **config)

    return build


register("rf", "descriptor", "random forest (LightGBM rf mode)")(_booster_model("rf"))
register("lgbm", "descriptor", "LightGBM gradient boosting")(_booster_model("lgbm"))
register("xgb", "descriptor", "XGBoost gradient boosting")(_booster_model("xgb"))
