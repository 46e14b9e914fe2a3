import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.evaluation.benchmark import run_benchmark
from bulkmod.evaluation.diagnose import diagnose
from bulkmod.reports import figures
from bulkmod.reports.html import build_report, diagnosis_report

rng = np.random.default_rng(1)


def _has_data(fig) -> bool:
    return all(ax.collections or ax.lines or ax.patches for ax in fig.axes if ax.get_label() != "<colorbar>")


def test_every_figure_has_data_on_its_axes():
    y = rng.uniform(0.5, 2.6, 300)
    p = y + rng.normal(0, 0.05, 300)
    figs = [
        figures.parity(y, p, rng.integers(0, 5, 300)),
        figures.residuals_vs_true(y, p),
        figures.range_picture(y, p),
        figures.error_by_group(["cubic", "hexagonal"] * 150, np.abs(p - y), "crystal system"),
        figures.calibration(y, p, p - 0.08, p + 0.08, np.full(300, 0.05)),
    ]
    assert all(_has_data(f) for f in figs)


@pytest.fixture(scope="module")
def results_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("res")
    run_benchmark("mp-binary-2025", "mean", limit=120, folds=3, out=d / "mean.json")
    run_benchmark("mp-binary-2025", "lgbm", limit=120, folds=3, out=d / "lgbm.json",
                  model_config={"inner_folds": 2, "params": {"learning_rate": 0.1}})  # fmt: skip
    (d / "junk.json").write_text(json.dumps({"hello": 1}))
    return d


def test_report_embeds_figures_and_lists_skipped_inputs(results_files, tmp_path):
    out = tmp_path / "report.html"
    files = [str(results_files / n) for n in ("mean.json", "lgbm.json", "junk.json")]
    path, skipped = build_report(files, out)
    html = path.read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert len(images) >= 8
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert len(skipped) == 1 and "junk.json" in skipped[0] and "junk.json" in html
    assert "http" not in html.replace("http-equiv", "")  # self-contained: no network references
    assert len(list((tmp_path / "report_figures").glob("*.png"))) == len(images)
    assert "paired p vs best" in html


def test_report_table_is_sorted_marks_the_best_and_prints_readable_numbers(results_files, tmp_path, capsys):
    files = [str(results_files / n) for n in ("mean.json", "lgbm.json")]  # worst first: the table must sort
    html = build_report(files, tmp_path / "report.html")[0].read_text()
    said = capsys.readouterr().err  # a long report says where it is
    assert "report: run 1/2, mean" in said
    table = html[html.index("<table>") : html.index("</table>")]
    rows = table.split("<tr")[2:]
    assert rows[0].startswith(" class='best'>") and "<td>lgbm</td>" in rows[0]
    assert not rows[1].startswith(" class='best'") and "<td>mean</td>" in rows[1]
    p_value = re.findall(r"<td>([^<]*)</td>", rows[1])[-1]
    assert p_value != "0.0000" and float(p_value) < 0.05  # lgbm beats the mean model: a real, printed p
    assert not re.search(r"\d\.\d{9,}", table)  # no 17-digit floats
    assert "lgbm: lgbm on mp-binary-2025 (kfold)" in html  # each run's heading and parity title name the run


def _refuse(*args, **kwargs):
    raise AssertionError("the report loaded or featurised a dataset")


def test_report_reads_only_results_files(results_files, tmp_path, monkeypatch):
    """The breakdowns by crystal system and element count come from the predictions file's own columns."""
    import bulkmod.data
    import bulkmod.data.datasets
    import bulkmod.features
    import bulkmod.features.featurizer

    for module in (bulkmod.data, bulkmod.data.datasets):
        monkeypatch.setattr(module, "load_dataset", _refuse)
    for module in (bulkmod.features, bulkmod.features.featurizer):
        monkeypatch.setattr(module, "featurize", _refuse)
    html = build_report([str(results_files / "lgbm.json")], tmp_path / "report.html")[0].read_text()
    assert "alt='lgbm_by_crystal_system'" in html and "alt='lgbm_by_number_of_elements'" not in html
    assert "all 120 crystals share one number of elements (2 elements): no breakdown" in html


def test_report_of_a_predictions_file_without_crystal_systems_says_so(results_files, tmp_path, monkeypatch):
    import bulkmod.data

    monkeypatch.setattr(bulkmod.data, "load_dataset", _refuse)
    res = (results_files / "mean.json").read_text()
    (tmp_path / "old.json").write_text(res.replace("mean.predictions.csv", "old.predictions.csv"))
    preds = pd.read_csv(results_files / "mean.predictions.csv").drop(columns="crystal_system")
    preds.to_csv(tmp_path / "old.predictions.csv", index=False)
    html = build_report([str(tmp_path / "old.json")], tmp_path / "report.html")[0].read_text()
    assert "no breakdown (predictions file predates crystal_system)" in html and "_by_" not in html


def test_diagnosis_report_evidence_is_rounded(tmp_path):
    k_true = np.exp(rng.uniform(np.log(50), np.log(317), 200))
    k_pred = rng.uniform(128, 133, 200)
    html = diagnosis_report(k_true, k_pred, diagnose(k_true, k_pred), tmp_path / "d.html").read_text()
    assert not re.search(r"\d\.\d{9,}", html[: html.index("data:image")])


def test_report_without_any_valid_input_is_an_error(results_files, tmp_path):
    with pytest.raises(BulkmodError, match="no readable"):
        build_report([str(results_files / "junk.json")], tmp_path / "r.html")


def test_diagnosis_report(tmp_path):
    k_true = np.exp(rng.uniform(np.log(50), np.log(317), 200))
    k_pred = rng.uniform(128, 133, 200)
    path = diagnosis_report(k_true, k_pred, diagnose(k_true, k_pred), tmp_path / "d.html")
    assert "collapsed" in path.read_text() and path.read_text().count("data:image/png") == 3


def test_model_card_names_the_scale_each_uncertainty_method_uses():
    from bulkmod.reports.card import _scale_text

    assert "disagree" in _scale_text({"family": "ensemble", "config": {"sigma": "disagreement"}})
    assert "mixture" in _scale_text({"family": "ensemble", "config": {"params": {"sigma": "mixture"}}})  # old shape
    assert "disagree" in _scale_text({"family": "ensemble", "config": {}})  # the default since the mixture was dropped
    assert "Laplace" in _scale_text({"family": "hybrid", "config": {"laplace": True}})
    assert "30 Monte-Carlo" in _scale_text({"family": "hybrid", "config": {"mc_samples": 30}})
    assert "log |error|" in _scale_text({"family": "descriptor", "config": {"params": {}}})
