"""Datasets: loading, validation and splits."""

from bulkmod.data.loaders import DATASETS, load_csv, load_dataset
from bulkmod.data.records import Dataset, ValidationReport

__all__ = ["DATASETS", "Dataset", "ValidationReport", "load_csv", "load_dataset"]
