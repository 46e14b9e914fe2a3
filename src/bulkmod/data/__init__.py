"""Datasets: loading, validation and splits."""

from bulkmod.data.datasets import DATASETS, load_dataset
from bulkmod.data.loaders import load_csv
from bulkmod.data.records import Dataset, ValidationReport

__all__ = ["DATASETS", "Dataset", "ValidationReport", "load_csv", "load_dataset"]
