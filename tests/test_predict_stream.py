"""Screening a stream: batches on either backend, and a SIGKILLed run that resumes without losing or repeating rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bulkmod.cli import main
from bulkmod.data.files import read_structure
from bulkmod.data.stream import file_item, iter_items
from bulkmod.data.synthetic import EXAMPLES, write_jsonl
from bulkmod.models.descriptor import MeanModel
from bulkmod.models.pretrained import DEFAULT_MODEL, PRETRAINED_DIR
from bulkmod.parallel import Backend
from bulkmod.prediction import OUTPUT_COLUMNS, predict_files, predict_stream

needs_default = pytest.mark.skipif(not (PRETRAINED_DIR / DEFAULT_MODEL).exists(), reason="default model not built")
ENV = os.environ | {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "crystals.jsonl"
    write_jsonl(path, 200, seed=7)
    with open(path, "a") as fh:
        fh.write('{"id": "broken", "structure": {"lattice": 1}}\n')
    return path


def _predict(stream, out, *extra) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bulkmod.cli", "predict", str(stream), "--out", str(out), "--batch-size", "10", *extra]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _rows_committed(out) -> int:
    progress = out.with_name(out.stem + ".progress.json")
    try:
        return json.loads(progress.read_text())["rows"]
    except (OSError, ValueError):  # not written yet
        return 0


@needs_default
def test_sigkill_then_resume_equals_an_uninterrupted_run(stream, tmp_path, sigkill_when):
    out = tmp_path / "k.csv"
    victim = _predict(stream, out)
    killed_at = sigkill_when(victim, lambda: _rows_committed(out), 40, timeout=120, poll=0.02)
    assert victim.returncode == -signal.SIGKILL and 40 <= killed_at < 201, killed_at
    with open(out, "a") as fh:
        fh.write("half,a,row")  # what a kill in the middle of a batch write leaves behind

    resumed = _predict(stream, out, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    reference = _predict(stream, tmp_path / "ref.csv")
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()[-2000:]

    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == 201 and df["source"].is_unique
    assert df["source"].iloc[-1] == "broken" and df["error"].iloc[-1] and df["k_vrh_gpa"].iloc[-1] == ""
    assert (df["error"].iloc[:-1] == "").all()


@needs_default
def test_resume_refuses_a_different_run(stream, tmp_path, capsys):
    out = tmp_path / "k.csv"
    assert main(["predict", str(stream), "--out", str(out), "--batch-size", "100"]) == 0
    assert main(["predict", str(stream), "--out", str(out), "--model", str(PRETRAINED_DIR / DEFAULT_MODEL),
                 "--resume"]) == 0  # fmt: skip  # same model by path: complete, nothing to do
    assert len(pd.read_csv(out)) == 201
    assert main(["predict", str(stream), str(stream), "--out", str(out), "--resume"]) == 2
    assert "same inputs" in capsys.readouterr().err


@needs_default
def test_ray_batches_match_local_batches(stream, ray_session, tmp_path):
    for backend in ("local", "ray"):
        assert main(["predict", str(stream), "--out", str(tmp_path / f"{backend}.csv"), "--batch-size", "40",
                     "--backend", backend]) == 0  # fmt: skip
    assert (tmp_path / "local.csv").read_bytes() == (tmp_path / "ray.csv").read_bytes()
    run = json.loads((tmp_path / "ray.run.json").read_text())
    assert run["n_tasks"] == 6 and run["n_rows"] == 201 and run["n_ok"] == 200


class _WithNote(MeanModel):
    """A model that adds its own output column, like umlip-eos's k_prime."""

    def predict(self, ds):
        pred = super().predict(ds)
        pred.extra = {"note": np.array(["from the mean"] * len(ds), dtype=object)}
        return pred


def test_extra_model_columns_survive_a_first_batch_of_only_bad_rows(tmp_path):
    bad = [tmp_path / f"bad{i}.cif" for i in range(3)]
    for p in bad:
        p.write_text("not a crystal")
    items = [file_item(p) for p in bad] + [file_item(EXAMPLES / "Si.cif"), file_item(EXAMPLES / "NaCl.cif")]
    model = _WithNote(value=2.0)
    model.train_info = {"elements": ["Si"]}
    with Backend("local") as backend:
        sink = predict_stream(items, model, tmp_path / "k.csv", backend, fingerprint={}, batch_size=2)
    df = pd.read_csv(tmp_path / "k.csv", keep_default_na=False)
    assert list(df.columns) == [*OUTPUT_COLUMNS, "note"] and sink.rows == len(df) == 5
    assert list(df["note"]) == ["", "", "", "from the mean", "from the mean"]
    assert list(df["in_domain"][3:]) == ["yes", "no: unseen element"] and all(df["error"][:3])


class _FailsOnSodium(MeanModel):
    """A model with a bug no validation foresees: it raises on any batch holding sodium."""

    def predict(self, ds):
        if any("Na" in {e.symbol for e in c.elements} for c in ds.compositions):
            raise IndexError("index 104 is out of bounds")
        return super().predict(ds)


def test_one_crystal_that_breaks_the_model_costs_only_its_row(tmp_path):
    files = [EXAMPLES / n for n in ("Si.cif", "NaCl.cif", "MgO.cif")]
    df = predict_files(files, _FailsOnSodium(value=2.0))
    assert list(np.isfinite(df["k_vrh_gpa"])) == [True, False, True]
    assert df["k_vrh_gpa"][0] == pytest.approx(100.0)
    assert df["error"][1] == "could not be predicted (IndexError: index 104 is out of bounds)"


def test_repeated_inputs_are_predicted_once_also_across_batches_and_a_resume(tmp_path):
    lines = tmp_path / "rows.jsonl"
    doc = read_structure(EXAMPLES / "Si.cif").as_dict()
    lines.write_text("\n".join(json.dumps({"id": i, "structure": doc}) for i in ["a", "b", "a", "c", "b"]) + "\n")
    items = list(iter_items([str(lines)]))
    out = tmp_path / "k.csv"
    with Backend("local") as backend:
        predict_stream(items[:3], MeanModel(value=2.0), out, backend, fingerprint={"n": 1}, batch_size=2)
        state = json.loads(out.with_name("k.progress.json").read_text())
        state["complete"] = False  # as if killed after three rows
        out.with_name("k.progress.json").write_text(json.dumps(state))
        predict_stream(items, MeanModel(value=2.0), out, backend, fingerprint={"n": 1}, batch_size=2, resume=True)
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df["source"]) == ["a", "b", "a", "c", "b"]
    assert list(df["error"]) == ["", "", "duplicate input: a is also row 1; predicted there only", "",
                                 "duplicate input: b is also row 2; predicted there only"]  # fmt: skip
    assert list(np.isfinite(pd.to_numeric(df["k_vrh_gpa"], errors="coerce"))) == [True, True, False, True, False]
    files = predict_files([EXAMPLES / "Si.cif", EXAMPLES / "Si.cif"], MeanModel(value=2.0))
    assert files["error"][1].startswith("duplicate input")
