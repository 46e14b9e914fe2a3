"""Prediction inputs as a stream: every reader yields one item per crystal, in a stable order, bad ones included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bulkmod.data.stream import InputError, iter_items
from bulkmod.data.synthetic import perturbed_structures
from bulkmod.errors import BulkmodError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _read_all(items):
    out = []
    for item in items:
        try:
            out.append((item.read()[0], ""))
        except InputError as exc:
            out.append((exc.source, exc.reason))
    return out


def test_directory_glob_extxyz_frames_and_json_lines(tmp_path):
    crystals = list(perturbed_structures(4, seed=1))
    frames = tmp_path / "many.extxyz"
    for _, s in crystals[:3]:
        s.to_ase_atoms().write(frames, format="extxyz", append=True)
    lines = tmp_path / "rows.jsonl"
    rows = [json.dumps({"id": sid, "structure": s.as_dict()}) for sid, s in crystals]
    rows.insert(2, "{not json")
    lines.write_text("\n".join(rows[:3]) + "\n\n" + "\n".join(rows[3:]) + "\n")  # a blank line is not a row
    shutil.copy(EXAMPLES / "Si.cif", tmp_path / "Si.cif")

    got = _read_all(iter_items([str(frames), str(lines), str(tmp_path / "*.cif"), str(EXAMPLES)]))
    sources = [s for s, _ in got]
    assert sources[:3] == [f"{frames}@{i}" for i in range(3)]
    assert sources[3:8] == [crystals[0][0], crystals[1][0], f"{lines}:3", crystals[2][0], crystals[3][0]]
    assert got[5][1].startswith("not JSON")  # the bad line is reported on its row, not dropped
    assert sources[8] == str(tmp_path / "Si.cif")
    assert sources[9:] == [str(p) for p in sorted(EXAMPLES.iterdir())]  # one-frame extxyz named like a file
    assert all(not err for i, (_, err) in enumerate(got) if i != 5)


def test_missing_and_empty_inputs_are_rows_with_errors(tmp_path):
    (tmp_path / "empty.extxyz").write_text("")
    got = _read_all(iter_items([str(tmp_path / "nope.cif"), str(tmp_path / "empty.extxyz")]))
    assert [e for _, e in got] == ["no such file", "empty file"]
    with pytest.raises(BulkmodError, match="no input"):
        list(iter_items([]))
