"""The command line as a user meets it: one-line errors, a row per input, exit codes."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bulkmod.cli import main
from bulkmod.models.pretrained import DEFAULT_MODEL, PRETRAINED_DIR

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
needs_default = pytest.mark.skipif(not (PRETRAINED_DIR / DEFAULT_MODEL).exists(), reason="default model not built")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bulkmod.cli", *args], capture_output=True, text=True, timeout=600)


@needs_default
def test_predict_examples_gives_numeric_k_for_each(tmp_path):
    out = tmp_path / "k.csv"
    assert main(["predict", str(EXAMPLES), "--out", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == len(list(EXAMPLES.iterdir()))
    k = dict(zip(df["formula"], pd.to_numeric(df["k_vrh_gpa"]), strict=True))
    assert 10 < k["NaCl"] < 50 and 70 < k["Si"] < 130 and 120 < k["MgO"] < 200
    assert (pd.to_numeric(df["k_vrh_low_gpa"]) < pd.to_numeric(df["k_vrh_gpa"])).all()
    assert (df["error"] == "").all()


@needs_default
def test_bad_files_get_an_error_row_and_good_ones_still_predict(tmp_path):
    (tmp_path / "junk.cif").write_bytes(b"\x00\x01binary junk")
    (tmp_path / "empty.cif").write_text("")
    shutil.copy(EXAMPLES / "Si.cif", tmp_path / "Si.cif")
    out = tmp_path / "k.json"
    r = run(
        "predict",
        str(tmp_path / "junk.cif"),
        str(tmp_path / "empty.cif"),
        str(tmp_path / "Si.cif"),
        str(tmp_path / "missing.cif"),
        "--out",
        str(out),
    )
    assert r.returncode == 0 and "Traceback" not in r.stderr
    rows = {Path(row["source"]).name: row for row in json.loads(out.read_text())}
    assert rows["Si.cif"]["error"] == "" and rows["Si.cif"]["k_vrh_gpa"] > 50
    for bad in ("junk.cif", "empty.cif", "missing.cif"):
        assert rows[bad]["error"] and rows[bad]["k_vrh_gpa"] is None


@needs_default
def test_all_bad_inputs_exit_non_zero(tmp_path):
    (tmp_path / "x.cif").write_text("nonsense")
    r = run("predict", str(tmp_path / "x.cif"))
    assert r.returncode != 0 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["benchmark", "--dataset", "nope", "--model", "lgbm", "--out", "r.json"], "unknown dataset"),
        (["benchmark", "--dataset", "mp-binary-2025", "--model", "nope", "--out", "r.json"], "unknown model"),
        (["predict", "examples/Si.cif", "--model", "no-such-model"], "no-such-model"),
        (["predict", "examples/Si.cif", "--model", "lgbm"], "bulkmod train"),
        (["diagnose", "missing.csv"], "missing.csv: no such file"),
        (["data", "validate", "empty.csv"], "empty.csv"),
    ],
)
def test_errors_are_one_line_without_traceback(args, needle, tmp_path, monkeypatch):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    r = subprocess.run([sys.executable, "-m", "bulkmod.cli", *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_split_is_rejected_by_the_parser():
    r = run("benchmark", "--dataset", "mp-binary-2025", "--model", "lgbm", "--split", "random", "--out", "r.json")
    assert r.returncode == 2 and "invalid choice" in r.stderr and "Traceback" not in r.stderr


def test_diagnose_json_on_a_collapsed_csv(tmp_path, capsys):
    path = tmp_path / "p.csv"
    rows = [(50 + i * 2.67, 128 + (i % 6)) for i in range(100)]
    path.write_text("y_true,y_pred\n" + "\n".join(f"{t},{p}" for t, p in rows))
    assert main(["diagnose", str(path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["verdict"] == "collapsed" and res["causes"] and res["fixes"]
    assert main(["diagnose", str(path), "--strict"]) == 1  # a CI gate fails on a collapse
    good = tmp_path / "good.csv"
    noisy = [f"{t},{t * (1 + 0.05 * math.sin(i))}" for i, (t, _) in enumerate(rows)]
    good.write_text("y_true,y_pred\n" + "\n".join(noisy))
    assert main(["diagnose", str(good), "--strict", "--json"]) == 0


@needs_default
def test_predict_corrected_to_experiment_raises_k_and_widens_interval(tmp_path):
    plain, corrected = tmp_path / "p.csv", tmp_path / "c.csv"
    assert main(["predict", str(EXAMPLES / "MgO.cif"), "--out", str(plain)]) == 0
    assert main(["predict", str(EXAMPLES / "MgO.cif"), "--correct-to", "experiment", "--out", str(corrected)]) == 0
    a, b = pd.read_csv(plain).iloc[0], pd.read_csv(corrected).iloc[0]
    assert b.k_vrh_gpa > a.k_vrh_gpa  # PBE-trained predictions of ionic oxides sit low against experiment
    assert b.k_vrh_high_gpa / b.k_vrh_low_gpa > a.k_vrh_high_gpa / a.k_vrh_low_gpa


def test_table_shows_file_names_as_written(capsys):
    from bulkmod.cli import _print_table

    _print_table("t", ["source"], [["[bold red]x.cif"], ["\x1b[2Jwipe.cif"]])
    shown = capsys.readouterr().out
    assert "[bold red]x.cif" in shown and "\\x1b[2Jwipe.cif" in shown and "\x1b" not in shown


def test_train_prints_what_validation_rejected(tmp_path, capsys):
    csv = tmp_path / "rows.csv"
    shutil.copy(EXAMPLES / "Si.cif", tmp_path / "Si.cif")
    rows = ["id,structure_file,k_vrh", "si,Si.cif,98", "si2,Si.cif,300", "bad,missing.cif,10", "neg,Si.cif,-1"]
    csv.write_text("\n".join(rows) + "\n")
    assert main(["train", "--model", "mean", "--dataset", str(csv), "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "rows.csv: 4 rows read, 2 kept, 2 rejected" in out
    assert "row 1 (si2): flagged: duplicate structure of si (kept in its CV fold); conflicting targets" in out
    assert "missing.cif: no such file" in out and "non-positive modulus" in out


def test_predict_refuses_unknown_output_formats_and_silent_overwrites(tmp_path, capsys):
    si = str(EXAMPLES / "Si.cif")
    assert main(["predict", si, "--model", "fast", "--out", str(tmp_path / "k.xlsx")]) == 2
    assert "writes .csv (streamed, resumable) or .json" in capsys.readouterr().err
    assert not (tmp_path / "k.xlsx").exists()
    out = tmp_path / "k.csv"
    assert main(["predict", si, "--model", "fast", "--out", str(out)]) == 0
    before = out.read_bytes()
    assert main(["predict", str(EXAMPLES / "MgO.cif"), "--model", "fast", "--out", str(out)]) == 2
    assert "exists: pass --overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["predict", str(EXAMPLES / "MgO.cif"), "--model", "fast", "--out", str(out), "--overwrite"]) == 0
    assert "MgO" in out.read_text()


def test_predict_help_prints_a_plain_percent(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "90% interval" in capsys.readouterr().out


def test_train_with_cv_prints_the_cross_validated_errors(tmp_path, capsys):
    csv = tmp_path / "rows.csv"
    csv.write_text("formula,k_vrh\n" + "\n".join(f"{f},{k}" for f, k in
                   [("NaCl", 25), ("MgO", 160), ("Si", 98), ("Cu", 140), ("Al", 76), ("KCl", 17)]))  # fmt: skip
    assert main(["train", "--model", "mean", "--dataset", str(csv), "--out", str(tmp_path / "m"), "--cv", "3"]) == 0
    out = capsys.readouterr().out
    assert "cross-validation (kfold-3)" in out and "mae_log10" in out


def test_train_takes_its_cv_metrics_from_the_same_benchmark_run_only(tmp_path, capsys):
    csv = tmp_path / "rows.csv"
    csv.write_text("formula,k_vrh\n" + "\n".join(f"{f},{k}" for f, k in
                   [("NaCl", 25), ("MgO", 160), ("Si", 98), ("Cu", 140), ("Al", 76), ("KCl", 17)]))  # fmt: skip
    res = tmp_path / "cv.json"
    assert main(["benchmark", "--model", "mean", "--dataset", str(csv), "--folds", "3", "--out", str(res)]) == 0
    assert main(["train", "--model", "mean", "--dataset", str(csv), "--out", str(tmp_path / "m"),
                 "--cv-from", str(res)]) == 0  # fmt: skip
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["metrics"]["mae_log10"] == json.loads(res.read_text())["mae_log10"]
    assert manifest["metrics"]["cv"] == "kfold-3, from cv.json" and "cross-validation" in capsys.readouterr().out
    assert main(["train", "--model", "lgbm", "--dataset", str(csv), "--out", str(tmp_path / "x"),
                 "--cv-from", str(res)]) == 2  # fmt: skip
    assert "not the kfold run of 'lgbm'" in capsys.readouterr().err


def test_help_imports_none_of_the_library_and_lists_what_it_names():
    """`--help` stays instant: building the parser loads no numeric or chemistry package."""
    code = (
        "import sys\nfrom bulkmod.cli import build_parser\n"
        "for cmd in ('predict', 'benchmark', 'train', 'tune'):\n"
        "    build_parser()._subparsers._group_actions[0].choices[cmd].format_help()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'sklearn', 'pymatgen', 'torch', "
        "'scipy', 'matplotlib', 'lightgbm'}))"
    )
    run_ = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run_.stdout.strip() == "[]", run_.stdout + run_.stderr
    from bulkmod.cli import FEATURE_GROUPS, POTENTIAL_NAMES, SPLIT_NAMES
    from bulkmod.data.splits import SPLITS
    from bulkmod.features.featurizer import ALL_GROUPS
    from bulkmod.physics.potentials import POTENTIALS

    assert tuple(SPLITS) == SPLIT_NAMES and tuple(ALL_GROUPS) == FEATURE_GROUPS
    assert tuple(POTENTIALS) == POTENTIAL_NAMES


def test_predict_help_says_what_comes_out(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = capsys.readouterr().out
    for needle in ("k_vrh_low_gpa", "in_domain", "exit code: 0 when at least one", "BULKMOD_MAX_ATOMS", "90% interval"):
        assert needle in text, needle
    assert "%%" not in text


@pytest.mark.parametrize(
    ("model", "param", "says"),
    [
        ("lgbm", "bogus=1", "--param bogus: not an option of this model (this model's own options: inner_folds: int"),
        ("lgbm", "num_leaves=abc", 'num_leaves should be of type int, got "abc"'),
        ("structure-routed", "num_leave=63", "--param num_leave: not an option"),
        ("qlgbm", "bogus=1", "own options: cqr"),
        ("xgb", "max_depht=3", "--param max_depht: not an option"),
        ("cgcnn", "bogus=1", "model 'cgcnn' does not take that option: bogus=1 (its options: n_conv: int = 3"),
        ("cgcnn", "n_conv=abc", "model 'cgcnn': option n_conv='abc' must be int"),
    ],
)
def test_param_is_validated_before_anything_runs(model, param, says, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["benchmark", "--dataset", "mp-binary-2025", "--model", model, "--limit", "40", "--out", str(out)]
    assert main([*args, "--param", param]) == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_valid_booster_params_pass_and_are_saved(tmp_path):
    from bulkmod.models import build_model

    model = build_model("lgbm", params={"num_leaves": 15, "lambda_l2": 2.0, "interval": "constant"})
    assert model.params["num_leaves"] == 15 and model.options.interval == "constant"
    again = build_model("lgbm", **json.loads(json.dumps(model.config())))  # the manifest's round trip
    assert again.params == model.params and again.options == model.options


def test_predict_shows_overall_progress_with_a_total_and_eta(tmp_path):
    """On a terminal, one bar counts every input of the run (its total known up front, so it has an ETA)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from bulkmod.data.synthetic import write_jsonl

    stream = write_jsonl(tmp_path / "in.jsonl", 30, seed=0)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    cmd = [sys.executable, "-m", "bulkmod.cli", "predict", str(stream), "--model", "fast", "--batch-size", "10",
           "--out", str(tmp_path / "k.csv")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0
    bars = [line for line in seen.decode(errors="replace").replace("\r", "\n").splitlines() if "predict:" in line]
    assert any("10/30 [" in b for b in bars) and any("30/30 [" in b for b in bars), bars
    assert any("<00:" in b for b in bars)  # an estimated time left


def test_eos_centre_sets_the_umlip_feature_scan_and_refuses_models_without_it(capsys):
    """--eos-centre equilibrium trains on E-V features that do not depend on the input cell; a model whose
    features have no umlip-eos group is refused with the way to add it, not silently ignored."""
    from bulkmod.cli import _model_config, build_parser

    parse = build_parser().parse_args
    cfg = _model_config(parse(["train", "--model", "umlip-hybrid", "--dataset", "x", "--out", "y",
                               "--eos-centre", "equilibrium"]))  # fmt: skip
    assert cfg["features"]["eos_centre"] == "equilibrium" and "umlip-eos" in cfg["features"]["groups"]
    cfg = _model_config(parse(["train", "--model", "lgbm", "--dataset", "x", "--out", "y",
                               "--features", "magpie,umlip-eos", "--eos-centre", "equilibrium"]))  # fmt: skip
    assert cfg["features"]["groups"] == ["magpie", "umlip-eos"] and cfg["features"]["eos_centre"] == "equilibrium"
    assert main(["train", "--model", "lgbm", "--dataset", "mp-binary-2025", "--out", "unused",
                 "--eos-centre", "equilibrium"]) == 2  # fmt: skip
    assert "lgbm's features have no umlip-eos group; add it with --features ...,umlip-eos" in capsys.readouterr().err


def test_potential_sets_the_umlip_features_and_the_zero_shot_model(capsys):
    """--potential picks the universal potential behind the E-V features (or the zero-shot model's own)."""
    from bulkmod.cli import _model_config, build_parser

    parse = build_parser().parse_args
    cfg = _model_config(parse(["train", "--model", "umlip-hybrid", "--dataset", "x", "--out", "y",
                               "--potential", "sevennet-mf-0", "--eos-centre", "equilibrium"]))  # fmt: skip
    assert cfg["features"]["potential"] == "sevennet-mf-0" and cfg["features"]["eos_centre"] == "equilibrium"
    cfg = _model_config(
        parse(["benchmark", "--model", "umlip-eos", "--dataset", "x", "--out", "y", "--potential", "sevennet"])
    )
    assert cfg == {"params": {"potential": "sevennet"}}
    assert main(["train", "--model", "lgbm", "--dataset", "mp-binary-2025", "--out", "unused",
                 "--potential", "sevennet"]) == 2  # fmt: skip
    assert "--potential: lgbm's features have no umlip-* group; add one with" in capsys.readouterr().err
    # the ion strain measure alone is a potential's feature too
    cfg = _model_config(parse(["train", "--model", "lgbm", "--dataset", "x", "--out", "y",
                               "--features", "magpie,umlip-ions", "--potential", "sevennet-mf-0"]))  # fmt: skip
    assert cfg["features"]["groups"] == ["magpie", "umlip-ions"] and cfg["features"]["potential"] == "sevennet-mf-0"
