import numpy as np
import pytest

from bulkmod.evaluation.metrics import uncertainty_metrics


@pytest.fixture(scope="module")
def gaussian():
    """Errors drawn with a known, varying std: what a perfectly calibrated model would report."""
    rng = np.random.default_rng(0)
    std = rng.uniform(0.02, 0.2, 20000)
    y = rng.normal(2.0, 0.3, std.size)
    return y, y + rng.normal(0.0, std), std


def test_a_calibrated_std_scores_as_calibrated(gaussian):
    y, pred, std = gaussian
    m = uncertainty_metrics(y, pred, std)
    assert m["coverage_50"] == pytest.approx(0.5, abs=0.015)
    assert m["miscalibration_area"] < 0.01
    assert m["spearman_abs_err_std"] > 0.3 and m["mae_top10_uncertain"] > 1.5 * m["mae_rest"]
    expected_nll = np.mean(0.5 * np.log(2 * np.pi * std**2)) + 0.5  # E[(err/std)^2] = 1
    assert m["nll"] == pytest.approx(expected_nll, abs=0.02)


def test_an_overconfident_or_uninformative_std_is_caught(gaussian):
    y, pred, std = gaussian
    tight = uncertainty_metrics(y, pred, std / 3)
    assert tight["coverage_50"] < 0.25 and tight["miscalibration_area"] > 0.2
    assert tight["nll"] > uncertainty_metrics(y, pred, std)["nll"]
    shuffled = uncertainty_metrics(y, pred, np.random.default_rng(1).permutation(std))
    assert abs(shuffled["spearman_abs_err_std"]) < 0.05
    assert shuffled["mae_top10_uncertain"] == pytest.approx(shuffled["mae_rest"], rel=0.15)
