"""Train any registry model on a whole dataset and save it, optionally with cross-validated metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bulkmod.data import load_dataset
from bulkmod.data.records import ValidationReport
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.metrics import HEADLINE
from bulkmod.evaluation.results import read_results
from bulkmod.models import build_model
from bulkmod.provenance import command_line
from bulkmod.reports.card import write_model_card
from bulkmod.uncertainty.domain import DescriptorDomain


def train_and_save(
    model: str,
    dataset: str,
    out: Path,
    *,
    model_config: dict[str, Any] | None = None,
    cv_folds: int = 0,
    cv_out: Path | None = None,
    cv_from: Path | None = None,
) -> tuple[Path, ValidationReport]:
    """Fit on every row of ``dataset``; with ``cv_folds`` the manifest also carries K-fold CV metrics.

    ``cv_from`` takes those metrics from a results file of the same K-fold benchmark (same dataset, model and
    options, checked) instead of running it again. Returns the model directory and the dataset's validation
    report (what was rejected or flagged, and why).
    """
    metrics: dict[str, Any] = {}
    res: dict[str, Any] | None = None
    ds = load_dataset(dataset)
    if cv_from is not None:
        res = read_results(cv_from)
        ran = (res.get("dataset"), res.get("model"), res.get("split"), res.get("model_config"), res.get("limit"))
        if ran != (ds.name, model, "kfold", model_config or {}, None):
            raise BulkmodError(
                f"{cv_from}: a {ran[2]} run of {ran[1]!r} on {ran[0]!r} with {ran[3]} (limit {ran[4]}), not the "
                f"kfold run of {model!r} on all of {ds.name!r} with {model_config or {}}: use --cv K to run it"
            )
    elif cv_folds:
        from bulkmod.evaluation.benchmark import run_benchmark

        res = run_benchmark(dataset, model, split="kfold", folds=cv_folds, model_config=model_config, out=cv_out)
    if res is not None:
        keep = ("n", *HEADLINE, "coverage_90", "spearman_abs_err_std", "width90_log10_p10_p90")
        metrics = {k: res[k] for k in keep if k in res}
        cv = f"kfold-{res.get('folds', cv_folds)}" + (f", from {Path(cv_from).name}" if cv_from else "")
        metrics |= {"cv": cv, "per_k_bin": res["per_k_bin"], "per_group": res.get("per_group", {})}
    est = build_model(model, **(model_config or {})).fit(ds, ds.y_log10)
    est.domain = DescriptorDomain.fit(ds)
    est.save(out, metrics=metrics)
    write_model_card(out, command=command_line())
    return out, ds.report
