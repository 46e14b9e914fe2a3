"""Shipped models: names and aliases resolve, and inputs without structures reach the composition model."""

from __future__ import annotations

import numpy as np
import pytest

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.evaluate import model_for_inputs, needs_structure
from bulkmod.models.pretrained import (
    BINARY_BLEND_MODEL,
    CHGNET_ROUTED_MODEL,
    CLAMPED_ZERO_SHOT_MODEL,
    COMPOSITION_MODEL,
    DEFAULT_MODEL,
    FAST_MODEL,
    PRETRAINED_DIR,
    PREVIOUS_DEFAULT,
    ZERO_SHOT_MODEL,
    list_pretrained,
    resolve_model_dir,
)


def test_aliases_and_names_resolve():
    assert {DEFAULT_MODEL, FAST_MODEL, COMPOSITION_MODEL} <= set(list_pretrained())
    assert resolve_model_dir(None) == resolve_model_dir("default") == PRETRAINED_DIR / DEFAULT_MODEL
    assert resolve_model_dir("fast") == PRETRAINED_DIR / FAST_MODEL
    with pytest.raises(BulkmodError, match="train it first"):
        resolve_model_dir("umlip-blend")


@pytest.mark.parametrize(
    ("name", "expected"),
    [(DEFAULT_MODEL, False), (PREVIOUS_DEFAULT, False), (CHGNET_ROUTED_MODEL, False), (BINARY_BLEND_MODEL, True),
     (FAST_MODEL, True), (ZERO_SHOT_MODEL, True), (CLAMPED_ZERO_SHOT_MODEL, True), (COMPOSITION_MODEL, False)],
)  # fmt: skip
def test_which_shipped_models_need_structures(name, expected):
    """Composites hold the feature lists in their members: the check must look inside them. The default learned
    from rows without a structure, so it takes them itself."""
    assert needs_structure(PRETRAINED_DIR / name) is expected


def test_formula_only_inputs_fall_back_to_the_composition_model_unless_the_model_takes_them(mp_small):
    formulas = Dataset("formulas", mp_small.ids[:3], mp_small.compositions[:3], mp_small.k_vrh[:3])
    path, directory = model_for_inputs(BINARY_BLEND_MODEL, formulas)
    assert path.startswith("composition (fallback") and directory.name == COMPOSITION_MODEL
    assert model_for_inputs(BINARY_BLEND_MODEL, mp_small)[1].name == BINARY_BLEND_MODEL
    with_spacegroups = Dataset("formulas", mp_small.ids[:3], mp_small.compositions[:3], mp_small.k_vrh[:3],
                               spacegroup=np.array([225, 186, 62]))  # fmt: skip
    assert model_for_inputs("default", with_spacegroups) == ("composition", PRETRAINED_DIR / DEFAULT_MODEL)
    path, directory = model_for_inputs("default", formulas)  # no space group: a value the default never saw
    assert path.endswith("no structures or space groups given)") and directory.name == COMPOSITION_MODEL


def test_zero_shot_needs_no_training_step():
    """`--model umlip-eos` used to be refused as "a registry model with no trained weights"."""
    assert resolve_model_dir("umlip-eos") == resolve_model_dir("zero-shot") == PRETRAINED_DIR / ZERO_SHOT_MODEL
    with pytest.raises(BulkmodError, match="train it first"):
        resolve_model_dir("lgbm")
