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


def test_a_truncated_frame_costs_only_itself(tmp_path):
    """Reading resynchronises on the next frame header instead of swallowing every frame after the cut."""
    crystals = list(perturbed_structures(30, seed=3))
    texts = []
    for i, (_, s) in enumerate(crystals):
        one = tmp_path / "one.extxyz"
        s.to_ase_atoms().write(one, format="extxyz")
        lines = one.read_text().rstrip("\n").split("\n")
        texts.append("\n".join(lines[:-1] if i == 7 else lines))  # frame 7 loses its last atom line
    texts.insert(20, "this is not a frame\nnor this")
    path = tmp_path / "many.extxyz"
    path.write_text("\n".join(texts) + "\n")
    got = _read_all(iter_items([str(path)]))
    assert len(got) == 31
    bad = [i for i, (_, err) in enumerate(got) if err]
    assert bad == [7, 20], got
    assert "could not parse structure" in got[7][1]


def test_empty_folders_oversized_lines_and_deep_json_get_rows(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    rows = tmp_path / "rows.jsonl"
    _, s = next(perturbed_structures(1))
    rows.write_text("\n".join([
        json.dumps({"id": "ok", "structure": s.as_dict()}),
        json.dumps({"id": "long", "pad": "x" * 600_000}),
        "[" * 50_000 + "]" * 50_000,
        json.dumps({"id": "after", "structure": s.as_dict()}),
    ]) + "\n")  # fmt: skip
    monkeypatch.setenv("BULKMOD_MAX_FILE_MB", "0.5")
    got = _read_all(iter_items([str(tmp_path / "empty"), str(rows)]))
    assert [src for src, _ in got] == [str(tmp_path / "empty"), "ok", f"{rows}:2", f"{rows}:3", "after"]
    assert got[0][1].startswith("folder holds no structure or JSON-lines file")
    assert got[2][1].startswith("line of 0.6 MB exceeds the 0.5 MB cap")
    assert got[3][1].startswith("JSON nested too deeply")
    assert not got[1][1] and not got[4][1]
