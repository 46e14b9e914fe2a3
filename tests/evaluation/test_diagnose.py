import json

import numpy as np

from bulkmod.evaluation.diagnose import diagnose, model_causes, read_predictions

rng = np.random.default_rng(0)
TRUE = np.exp(rng.uniform(np.log(50), np.log(317), 400))


def test_the_original_collapse_is_collapsed():
    pred = rng.uniform(128, 133, len(TRUE))
    res = diagnose(TRUE, pred)
    assert res["verdict"] == "collapsed"
    assert res["evidence"]["spread_ratio_gpa"] < 0.1
    assert any("log10" in f for f in res["fixes"])


def test_a_healthy_model_is_ok():
    pred = TRUE * np.exp(rng.normal(0, 0.1, len(TRUE)))
    assert diagnose(TRUE, pred)["verdict"] == "ok"


def test_systematic_underestimate_is_biased():
    pred = 0.8 * TRUE * np.exp(rng.normal(0, 0.05, len(TRUE)))
    res = diagnose(TRUE, pred)
    assert res["verdict"] == "biased" and "under" in res["causes"][0]


def test_negative_and_clamped_predictions_are_clipped():
    pred = TRUE * np.exp(rng.normal(0, 0.1, len(TRUE)))
    pred[:10] = -4.0
    assert diagnose(TRUE, pred)["verdict"] == "clipped"
    clamped = np.minimum(TRUE * np.exp(rng.normal(0, 0.1, len(TRUE))), 200.0)
    assert diagnose(TRUE, clamped)["verdict"] == "clipped"


def test_model_manifest_names_the_ingredient(tmp_path):
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "format": "bulkmod-model/1",
                "model": "cgcnn",
                "weights": {},
                "config": {
                    "transform": {"space": "gpa", "standardize": False},
                    "loss": "mse",
                    "lr": 0.01,
                    "params": {"optimizer": "sgd", "momentum": 0.9},
                },
            }
        )
    )
    (tmp_path / "train_log.csv").write_text(
        "epoch,train_loss,val_spread\n0,900,0.5\n1,800,0.2\n2,700,0.1\n3,600,0.05\n"
    )
    res = diagnose(TRUE, rng.uniform(128, 133, len(TRUE)), model_dir=tmp_path)
    text = " ".join(res["causes"])
    assert "no normalisation" in text and "SGD (lr 0.01" in text and "spread ratio ended at 0.05" in text


def _manifest(path, **config):
    path.mkdir()
    manifest = {"format": "bulkmod-model/1", "model": "cgcnn", "weights": {}, "config": config}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_sgd_on_an_unnormalised_target_is_named(tmp_path):
    raw = {"space": "gpa", "standardize": False}
    sgd = {"optimizer": "sgd", "momentum": 0.9}
    found = model_causes(_manifest(tmp_path / "a", transform=raw, loss="mse", lr=0.01, params=sgd))
    assert any("SGD (lr 0.01, momentum 0.9)" in c and "~200" in c for c in found)
    typed = model_causes(_manifest(tmp_path / "t", transform=raw, loss="mse", lr=0.01, params={}, **sgd))
    assert any("SGD (lr 0.01, momentum 0.9)" in c for c in typed)  # a manifest written with typed options
    # Adam(W)'s step does not grow with the gradient; a standardised target keeps SGD's gradient O(1)
    adamw = model_causes(_manifest(tmp_path / "b", transform=raw, loss="mse", lr=0.01, params={}))
    std = {"space": "log10", "standardize": True}
    fixed = model_causes(_manifest(tmp_path / "c", transform=std, loss="mse", lr=0.01, params=sgd))
    assert not any("SGD" in c for c in adamw + fixed)


def test_reads_results_csv_in_log10(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,fold,y_true_log10,y_pred_log10\na,0,2,2.1\nb,0,1,1.1\n")
    k_true, k_pred = read_predictions(path)
    np.testing.assert_allclose(k_true, [100, 10])
    np.testing.assert_allclose(k_pred, [10**2.1, 10**1.1])
