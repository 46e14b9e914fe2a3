"""The model registry: registry key -> how to build that model, filled in by the estimator modules themselves.

An estimator module registers its keys with :func:`register` when it is imported; this module imports none of them.
It names them in :data:`ESTIMATOR_MODULES` instead, and the first lookup imports them through :mod:`importlib`, as
an entry-point table would. (The registry used to import every estimator module while the estimators imported it
back, to build their members and to load saved models: a cycle through ten files that only lazy imports kept
working.) Adding a model is one module that calls :func:`register`, plus its name in :data:`ESTIMATOR_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bulkmod.errors import BulkmodError

# Every module that registers models, in the order `bulkmod models` lists them (within a module: the order of its
# register calls). Importing the graph package does not import torch: it registers factories that import on use.
ESTIMATOR_MODULES = (
    "bulkmod.models.descriptor",
    "bulkmod.models.quantile",
    "bulkmod.models.routed",
    "bulkmod.models.gp",
    "bulkmod.models.gnn",
    "bulkmod.models.umlip",
    "bulkmod.models.ensemble",
)

Factory = TypeVar("Factory", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelSpec:
    """What a registry key stands for: how to build the model, its family, a one-line summary and any caveat."""

    factory: Callable[..., Any]  # keyword options -> an untrained Estimator
    family: str
    summary: str
    note: str = ""  # a caveat every benchmark result of the model carries (e.g. its training data overlaps ours)


_SPECS: dict[str, ModelSpec] = {}


def register(key: str, family: str, summary: str, note: str = "") -> Callable[[Factory], Factory]:
    """Decorator (or plain call) that makes ``key`` build its model with the class or factory function given.

    A key registered twice is an error: two models would answer to one name, and which one a saved model's
    manifest meant would depend on import order.
    """

    def add(factory: Factory) -> Factory:
        if key in _SPECS:
            raise BulkmodError(f"model key {key!r} is registered twice ({_SPECS[key].factory} and {factory})")
        _SPECS[key] = ModelSpec(factory, family, summary, note)
        return factory

    return add


def _listing_rank(spec: ModelSpec) -> int:
    module = spec.factory.__module__
    return ESTIMATOR_MODULES.index(module) if module in ESTIMATOR_MODULES else len(ESTIMATOR_MODULES)


class _Registry(Mapping[str, ModelSpec]):
    """Every registered model; a lookup first imports the estimator modules (already imported ones cost nothing)."""

    def _specs(self) -> dict[str, ModelSpec]:
        for name in ESTIMATOR_MODULES:
            importlib.import_module(name)
        # listed by ESTIMATOR_MODULES whatever the order modules happened to be imported in (the sort is stable)
        return dict(sorted(_SPECS.items(), key=lambda item: _listing_rank(item[1])))

    def __getitem__(self, key: str) -> ModelSpec:
        return self._specs()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())


MODELS: Mapping[str, ModelSpec] = _Registry()
