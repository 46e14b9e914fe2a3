"""The Python API: one call per task from a notebook, the same rows as the CLI, and the README's examples."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from pymatgen.core import Structure

import bulkmod
from bulkmod.cli import main
from bulkmod.models import build_model
from bulkmod.prediction import OUTPUT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def fast():
    return bulkmod.load_model("fast")


def test_predict_takes_structures_atoms_paths_and_reports_what_it_cannot_read(fast):
    nacl = Structure.from_file(EXAMPLES / "NaCl.cif")
    df = bulkmod.predict([nacl, bulk("Cu", "fcc", a=3.61), str(EXAMPLES / "Si.cif"), 42, EXAMPLES / "MgO.cif"],
                         model=fast)  # fmt: skip
    assert list(df.columns[: len(OUTPUT_COLUMNS)]) == OUTPUT_COLUMNS
    assert list(df["source"]) == ["[0]", "[1]", str(EXAMPLES / "Si.cif"), "[3]", str(EXAMPLES / "MgO.cif")]
    assert list(df["formula"]) == ["NaCl", "Cu", "Si", "", "MgO"]
    assert df["error"][3].startswith("cannot read a int") and np.isnan(df["k_vrh_gpa"][3])
    ok = df.drop(index=3)
    assert np.isfinite(ok["k_vrh_gpa"]).all() and (ok["k_vrh_low_gpa"] < ok["k_vrh_high_gpa"]).all()
    one = bulkmod.predict(nacl, model="fast")  # one crystal, the model by name
    assert len(one) == 1 and one["k_vrh_gpa"][0] == pytest.approx(df["k_vrh_gpa"][0], rel=1e-9)


def test_api_rows_equal_the_cli_rows(fast, tmp_path):
    out = tmp_path / "k.csv"
    assert main(["predict", str(EXAMPLES), "--model", "fast", "--out", str(out)]) == 0
    cli = pd.read_csv(out, keep_default_na=False)
    api = fast.predict(EXAMPLES)
    assert list(api["source"]) == list(cli["source"])
    np.testing.assert_allclose(api["k_vrh_gpa"], pd.to_numeric(cli["k_vrh_gpa"]), rtol=1e-3)  # CSV keeps 3 decimals


def test_any_interval_level_with_the_same_k(mp_small, tmp_path):
    train = mp_small.subset(range(240))
    model = bulkmod.Model(build_model("lgbm", inner_folds=2, params={"learning_rate": 0.1}).fit(train, train.y_log10),
                          tmp_path)  # fmt: skip
    model.estimator.save(tmp_path / "m")
    wide, narrow = model.predict(EXAMPLES, level=0.95), model.predict(EXAMPLES, level=0.68)
    np.testing.assert_allclose(wide["k_vrh_gpa"], narrow["k_vrh_gpa"])
    assert (narrow["k_vrh_low_gpa"] > wide["k_vrh_low_gpa"]).all()
    assert (narrow["k_vrh_high_gpa"] < wide["k_vrh_high_gpa"]).all()
    with pytest.raises(bulkmod.BulkmodError, match="0 < level < 1"):
        model.predict(EXAMPLES, level=1.5)
    out = tmp_path / "k.csv"
    assert main(["predict", str(EXAMPLES), "--model", str(tmp_path / "m"), "--level", "0.68", "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["k_vrh_low_gpa"], narrow["k_vrh_low_gpa"], rtol=1e-3)


def test_a_model_saved_without_its_calibration_scores_refuses_other_levels_up_front(fast):
    """Models saved before the scores were kept carry the 90 % and 50 % quantiles only."""
    assert fast.estimator.conformal.scores is None
    half = fast.predict(EXAMPLES / "NaCl.cif", level=0.5)
    assert half["k_vrh_high_gpa"][0] < fast.predict(EXAMPLES / "NaCl.cif")["k_vrh_high_gpa"][0]
    with pytest.raises(bulkmod.BulkmodError, match="90 % and 50 % quantiles only"):
        fast.predict(EXAMPLES / "NaCl.cif", level=0.8)


def test_list_models_names_the_shipped_and_the_registry_models():
    models = bulkmod.list_models()
    assert {"shipped", "registry"} == set(models["kind"])
    assert "default" in set(models["alias"]) and {"lgbm", "structure-routed"} <= set(models["name"])


def test_the_readme_python_examples_run():
    """Every ```python block of the README's "Python" section, run as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python section has no example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block.replace("examples/", f"{EXAMPLES}/"), "README.md", "exec"), namespace)
