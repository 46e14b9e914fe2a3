"""Model registry: name -> factory. Adding a model is one class plus one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bulkmod.errors import BulkmodError
from bulkmod.features.featurizer import DEFAULT_STRUCTURE_GROUPS, FeatureConfig
from bulkmod.models.base import Estimator
from bulkmod.models.descriptor import DescriptorModel, MeanModel
from bulkmod.models.ensemble import EnsembleModel
from bulkmod.models.gnn import GRAPH_MODELS, MEGNET_LEAK_NOTE, megnet_pretrained
from bulkmod.models.gp import GPModel
from bulkmod.models.quantile import QuantileModel
from bulkmod.models.routed import RoutedModel
from bulkmod.models.umlip import BlendModel, UMLIPEOSModel

# E–V fit features only: the 64-d embedding adds nothing out of distribution and costs 0.002 in distribution
# (benchmarks/results/umlip.md, the *-embed rows); add it with --features ...,umlip-embed
HYBRID_FEATURES = FeatureConfig((*DEFAULT_STRUCTURE_GROUPS, "umlip-eos")).as_dict()


@dataclass(frozen=True)
class ModelSpec:
    factory: Callable[..., Estimator]
    family: str
    summary: str
    note: str = ""  # a caveat every benchmark result of the model carries (e.g. its training data overlaps ours)


MODELS: dict[str, ModelSpec] = {
    "mean": ModelSpec(MeanModel, "baseline", "training mean of log10 K (matbench 'dummy')"),
    "rf": ModelSpec(lambda **kw: DescriptorModel("rf", **kw), "descriptor", "random forest (LightGBM rf mode)"),
    "lgbm": ModelSpec(lambda **kw: DescriptorModel("lgbm", **kw), "descriptor", "LightGBM gradient boosting"),
    "xgb": ModelSpec(lambda **kw: DescriptorModel("xgb", **kw), "descriptor", "XGBoost gradient boosting"),
    "qlgbm": ModelSpec(QuantileModel, "descriptor", "quantile LightGBM (5/50/95 %), conformalised (CQR)"),
    "structure-routed": ModelSpec(
        RoutedModel, "descriptor", "lgbm on structure descriptors where a crystal has a structure, else on composition"
    ),
    "gpr": ModelSpec(GPModel, "gp", "exact Gaussian process on descriptors, learned Matern-ARD kernel"),
    **{key: ModelSpec(*spec) for key, spec in GRAPH_MODELS.items()},
    "umlip-eos": ModelSpec(
        UMLIPEOSModel, "zero-shot", "zero-shot K0 from a universal potential's E-V fit (chgnet|sevennet)"
    ),
    "megnet-pretrained": ModelSpec(
        megnet_pretrained,
        "zero-shot",
        "the original pretrained MEGNet (Keras weights in torch); --param version=mp-2019.4.1|mp-2018.6.1",
        MEGNET_LEAK_NOTE,
    ),
    "umlip-hybrid": ModelSpec(
        lambda **kw: DescriptorModel("lgbm", **({"features": HYBRID_FEATURES} | kw)),
        "physics",
        "LightGBM on descriptors + CHGNet E-V fit features (K0, K', V0/V, E0, residual, flag)",
    ),
    "umlip-delta": ModelSpec(
        lambda **kw: DescriptorModel("lgbm", **({"features": HYBRID_FEATURES, "baseline": "umlip-eos"} | kw)),
        "physics",
        "LightGBM learning log10 K - log10 K_uMLIP on the umlip-hybrid features",
    ),
    "umlip-blend": ModelSpec(BlendModel, "physics", "mean of lgbm (descriptors) and umlip-hybrid (+ E-V fit)"),
    "ensemble": ModelSpec(
        EnsembleModel, "ensemble", "N members of any model (--param member=lgbm --param members=5), calibrated spread"
    ),  # torch is imported on first use only
}


def build_model(key: str, **config) -> Estimator:
    if key not in MODELS:
        raise BulkmodError(f"unknown model {key!r}: use one of {', '.join(MODELS)} or a saved model directory")
    config.pop("backend", None)
    try:
        return MODELS[key].factory(**config)
    except TypeError as exc:  # an option this model does not have, e.g. --epochs for a tree model
        raise BulkmodError(f"model {key!r} does not take that option ({exc})") from None
