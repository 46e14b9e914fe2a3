"""Estimators (one interface for every model), target transforms and the model registry."""

from bulkmod.models.base import Estimator, Prediction
from bulkmod.models.registry import MODELS, build_model

__all__ = ["MODELS", "Estimator", "Prediction", "build_model"]
