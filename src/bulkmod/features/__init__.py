"""Composition, space-group and structure descriptors."""

from bulkmod.features.featurizer import ALL_GROUPS, FeatureConfig, featurize

__all__ = ["ALL_GROUPS", "FeatureConfig", "featurize"]
