"""The registry: estimator modules register their keys; a lookup imports the modules it names, none else."""

import subprocess
import sys

import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models import MODELS, build_model
from bulkmod.models.registry import register

KEYS = ["mean", "rf", "lgbm", "xgb", "qlgbm", "structure-routed", "gpr", "cgcnn", "cgcnn-deep", "schnet", "megnet",
        "hybrid", "mc-dropout", "megnet-pretrained", "umlip-eos", "umlip-hybrid", "umlip-delta", "umlip-blend",
        "ensemble"]  # fmt: skip


def test_a_fresh_process_lists_every_model_in_order_without_torch():
    """Importing an estimator module first must not reorder `bulkmod models`; listing must not pay for torch."""
    code = (
        "import sys, bulkmod.models.ensemble\n"
        "from bulkmod.models import MODELS\n"
        "print(','.join(MODELS), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [",".join(KEYS), "False"]
    assert list(MODELS) == KEYS


def test_a_key_registered_twice_is_refused():
    with pytest.raises(BulkmodError, match="'lgbm' is registered twice"):
        register("lgbm", "descriptor", "a second LightGBM")(lambda **kw: None)
    assert MODELS["lgbm"].summary == "LightGBM gradient boosting"


def test_build_model_names_the_keys_and_the_option_it_refuses():
    with pytest.raises(BulkmodError, match="unknown model 'nope': use one of mean, rf, "):
        build_model("nope")
    with pytest.raises(BulkmodError, match="model 'mean' does not take that option"):
        build_model("mean", epochs=3)
