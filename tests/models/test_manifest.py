"""What a manifest says about the code that wrote it (registry key, format and library versions) and what loading
does with it: rebuild through the key, refuse what this code would misread, warn about other library versions."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bulkmod.cli import main
from bulkmod.errors import BulkmodError, BulkmodWarning
from bulkmod.features.featurizer import FEATURE_VERSION, FeatureConfig
from bulkmod.models import MODELS, Estimator, build_model
from bulkmod.models.base import library_versions
from bulkmod.models.pretrained import PRETRAINED_DIR, list_pretrained

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = {"params": {"learning_rate": 0.1}, "inner_folds": 2}
# the hybrid's own features need CHGNet; the key, not the features, is what these tests are about
CHEAP_FEATURES = FeatureConfig(("magpie", "stoich")).as_dict()


@pytest.fixture(scope="module")
def split(mp_small):
    return mp_small.subset(range(150)), mp_small.subset(range(150, 180))


@pytest.fixture(scope="module")
def hybrid(split, tmp_path_factory) -> Path:
    """An ``umlip-hybrid`` saved after training: the key is a factory over the LightGBM descriptor model."""
    train, _ = split
    model = build_model("umlip-hybrid", features=CHEAP_FEATURES, **FAST).fit(train, train.y_log10)
    return model.save(tmp_path_factory.mktemp("models") / "hybrid")


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def edited_copy(folder: Path, to: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of a saved model with its manifest edited (the weights, which the manifest hashes, are untouched)."""
    shutil.copytree(folder, to)
    manifest = manifest_of(to)
    edit(manifest)
    (to / "manifest.json").write_text(json.dumps(manifest))
    return to


def load_quietly(folder: Path) -> tuple[Estimator, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Estimator.load(folder)
    return model, [w for w in caught if issubclass(w.category, BulkmodWarning)]


def test_a_round_trip_records_key_format_and_versions_and_warns_of_nothing(split, tmp_path):
    train, test = split
    model = build_model("lgbm", **FAST).fit(train, train.y_log10)
    manifest = manifest_of(model.save(tmp_path / "m"))
    assert (manifest["model"], manifest["family"], manifest["format_version"]) == ("lgbm", "descriptor", 1)
    assert manifest["config"]["features"]["version"] == FEATURE_VERSION
    assert manifest["versions"] == library_versions() and set(manifest["versions"]) >= {"numpy", "lightgbm"}
    loaded, notes = load_quietly(tmp_path / "m")
    assert loaded.key == "lgbm" and not notes
    np.testing.assert_allclose(loaded.predict(test).mean_log10, model.predict(test).mean_log10, rtol=1e-6)


def test_a_factory_key_is_saved_and_loaded_as_the_key_asked_for(hybrid, split):
    manifest = manifest_of(hybrid)
    assert (manifest["model"], manifest["family"]) == ("umlip-hybrid", MODELS["umlip-hybrid"].family)
    loaded = Estimator.load(hybrid)
    assert (loaded.key, loaded.family) == ("umlip-hybrid", "physics")
    saved_again = manifest_of(loaded.save(hybrid.parent / "again"))
    assert saved_again["model"] == "umlip-hybrid" and saved_again["config"] == manifest["config"]
    _, test = split
    np.testing.assert_allclose(
        loaded.predict(test).mean_log10, Estimator.load(hybrid.parent / "again").predict(test).mean_log10
    )


@pytest.mark.parametrize("key", list(MODELS))
def test_every_registry_key_builds_a_model_that_names_itself(key):
    """Constructors do no work, so every key can be built untrained; keys over a shared class (umlip-delta over
    the descriptor model, mc-dropout over the graph model) must still answer to their own key."""
    try:
        model = build_model(key)
    except BulkmodError as exc:  # an optional dependency this installation lacks
        pytest.skip(str(exc))
    assert (model.key, model.family, model.format_version) == (key, MODELS[key].family, 1)


def test_a_newer_format_version_is_refused_with_what_to_do(hybrid, tmp_path):
    newer = edited_copy(hybrid, tmp_path / "newer", lambda m: m.update(format_version=2))
    with pytest.raises(BulkmodError) as info:
        Estimator.load(newer)
    message = str(info.value)
    assert str(newer) in message and "format version 2" in message and "reads up to version 1" in message
    assert "retrain" in message and "bulkmod version that wrote it" in message


@pytest.mark.parametrize("value", [True, 0, "2"])
def test_a_format_version_that_is_not_a_positive_integer_is_refused(hybrid, tmp_path, value):
    odd = edited_copy(hybrid, tmp_path / "odd", lambda m: m.update(format_version=value))
    with pytest.raises(BulkmodError, match="format_version"):
        Estimator.load(odd)


def test_other_feature_code_is_refused(hybrid, tmp_path):
    old = edited_copy(hybrid, tmp_path / "old", lambda m: m["config"]["features"].update(version="0"))
    with pytest.raises(BulkmodError, match=f"feature code version 0.*computes version {FEATURE_VERSION}.*retrain"):
        Estimator.load(old)


def test_other_library_versions_warn_once_in_one_line_and_the_cli_shows_a_note(hybrid, split, tmp_path, capsys):
    old = edited_copy(hybrid, tmp_path / "old", lambda m: m["versions"].update(lightgbm="0.1"))
    with pytest.warns(BulkmodWarning) as caught:
        model = Estimator.load(old)
    (warning,) = caught
    message = str(warning.message)
    assert f"lightgbm 0.1 (installed {library_versions()['lightgbm']})" in message and "\n" not in message
    assert "numpy" not in message  # only what differs
    assert model.predict(split[1]).mean_log10.shape == (30,)  # a warning, not a refusal
    assert main(["predict", str(EXAMPLES / "Si.cif"), "--model", str(old)]) == 0
    err = capsys.readouterr().err
    assert f"note: {old}: saved with lightgbm 0.1" in err


def test_a_manifest_without_the_new_fields_loads_as_format_version_1(hybrid, tmp_path):
    plain = edited_copy(hybrid, tmp_path / "plain", lambda m: [m.pop(k) for k in ("format_version", "versions")])
    model, notes = load_quietly(plain)
    assert model.key == "umlip-hybrid" and not notes


@pytest.mark.parametrize("name", list_pretrained())
def test_every_shipped_model_loads_without_a_refusal_or_a_format_note(name):
    model, notes = load_quietly(PRETRAINED_DIR / name)
    assert model.key == manifest_of(PRETRAINED_DIR / name)["model"]
    assert not [w for w in notes if "installed" not in str(w.message)]  # library versions depend on the machine


def test_a_config_this_code_cannot_rebuild_names_the_bulkmod_that_saved_it(hybrid, tmp_path):
    def from_the_future(manifest: dict[str, Any]) -> None:
        manifest["config"]["option_of_the_future"] = 1
        manifest["versions"]["bulkmod"] = "99.0"

    future = edited_copy(hybrid, tmp_path / "future", from_the_future)
    with pytest.raises(BulkmodError, match=r"saved by bulkmod 99\.0: load it with that version, or re-save"):
        Estimator.load(future)
