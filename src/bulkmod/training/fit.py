"""Train any registry model on a whole dataset and save it, optionally with cross-validated metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bulkmod.data import load_dataset
from bulkmod.data.records import ValidationReport
from bulkmod.evaluation.metrics import HEADLINE
from bulkmod.evaluation.results import command_line
from bulkmod.models import build_model
from bulkmod.models.card import write_model_card
from bulkmod.uncertainty.domain import DescriptorDomain


def train_and_save(
    model: str,
    dataset: str,
    out: Path,
    *,
    model_config: dict[str, Any] | None = None,
    cv_folds: int = 0,
    cv_out: Path | None = None,
) -> tuple[Path, ValidationReport]:
    """Fit on every row of ``dataset``; with ``cv_folds`` the manifest also carries K-fold CV metrics.

    Returns the model directory and the dataset's validation report (what was rejected or flagged, and why).
    """
    metrics: dict[str, Any] = {}
    if cv_folds:
        from bulkmod.evaluation.benchmark import run_benchmark

        res = run_benchmark(dataset, model, split="kfold", folds=cv_folds, model_config=model_config, out=cv_out)
        keep = ("n", *HEADLINE, "coverage_90", "spearman_abs_err_std", "width90_log10_p10_p90")
        metrics = {k: res[k] for k in keep if k in res}
        metrics |= {"cv": f"kfold-{cv_folds}", "per_k_bin": res["per_k_bin"], "per_group": res["per_group"]}
    ds = load_dataset(dataset)
    est = build_model(model, **(model_config or {})).fit(ds, ds.y_log10)
    est.domain = DescriptorDomain.fit(ds)
    est.save(out, metrics=metrics)
    write_model_card(out, command=command_line())
    return out, ds.report
