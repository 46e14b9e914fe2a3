"""Estimators (one interface for every model), target transforms and the model registry."""

from bulkmod.models.base import Estimator, Prediction, build_model
from bulkmod.models.registry import MODELS

__all__ = ["MODELS", "Estimator", "Prediction", "build_model"]
