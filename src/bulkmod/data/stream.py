"""Prediction inputs as a lazy stream of items: files, directories, globs, multi-frame extxyz, JSON lines.

Items carry raw text or a path, never a parsed structure: the reader stays cheap and bounded in memory while
parsing happens in the (possibly remote) worker that predicts the batch. The order is deterministic, so a
resumed run can skip exactly the items an earlier run already wrote.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pymatgen.core import Structure

from bulkmod.data.files import is_structure_file, read_frame, read_structure, structure_from_dict
from bulkmod.errors import BulkmodError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
FRAME_SUFFIXES = (".extxyz", ".xyz")


@dataclass(frozen=True)
class Item:
    """One output row to be: ``kind`` is ``file`` (payload = path), ``frame`` (extxyz text) or ``json`` (a line)."""

    source: str
    kind: str
    payload: str

    def read(self) -> tuple[str, Structure]:
        """(source, structure); a JSON line's ``id`` becomes its source. Raises ``InputError`` with the reason."""
        source = self.source
        try:
            if self.kind == "frame":
                return source, read_frame(self.payload, source)
            if self.kind == "json":
                row = _json_row(self.payload, source)
                source = str(row["id"]) if row.get("id") is not None else source
                return source, structure_from_dict(row, source)
            return source, read_structure(self.payload)
        except BulkmodError as exc:
            raise InputError(source, str(exc).removeprefix(f"{source}: ")) from None


class InputError(BulkmodError):
    """Why one input could not be read, and the name its output row gets (a JSON line's id once known)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source, self.reason = source, reason


def _json_row(line: str, source: str) -> dict:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise BulkmodError(f"{source}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise BulkmodError(f"{source}: a JSON-lines row must be an object with a structure")
    return row


def file_item(path: Path | str) -> Item:
    return Item(str(path), "file", str(path))


def iter_items(inputs: list[str]) -> Iterator[Item]:
    """Files, folders (their structure and JSON-lines files), glob patterns; frames and lines expanded lazily."""
    if not inputs:
        raise BulkmodError("no input files given")
    for arg in inputs:
        path = Path(arg)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and _is_input(p))
        elif any(ch in arg for ch in "*?[") and not path.exists():
            files = sorted(Path(p) for p in glob.glob(arg)) or [path]
        else:
            files = [path]
        for f in files:
            yield from _file_items(f)


def _is_input(path: Path) -> bool:
    return is_structure_file(path) or path.suffix.lower() in JSONL_SUFFIXES


def _file_items(path: Path) -> Iterator[Item]:
    suffix = path.suffix.lower()
    if not path.is_file() or path.stat().st_size == 0:
        yield file_item(path)  # read() reports the missing or empty file on this row
    elif suffix in JSONL_SUFFIXES:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    yield Item(f"{path}:{lineno}", "json", line)
    elif suffix in FRAME_SUFFIXES:
        frames = _extxyz_frames(path)
        first = next(frames)
        second = next(frames, None)
        if second is None:  # a one-frame file is named like any other structure file
            yield file_item(path)
            return
        yield from (Item(f"{path}@{i}", "frame", text) for i, text in enumerate((first, second)))
        yield from (Item(f"{path}@{i}", "frame", text) for i, text in enumerate(frames, 2))
    else:
        yield file_item(path)


def _extxyz_frames(path: Path) -> Iterator[str]:
    """Cut an (ext)xyz file into frame texts by their atom-count lines, without parsing the atoms."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        while header := fh.readline():
            if not header.strip():
                continue
            try:
                n_atoms = int(header.split()[0])
            except ValueError:  # not a frame boundary: hand the rest to the parser, which says what is wrong
                yield header + fh.read()
                return
            yield header + "".join(fh.readline() for _ in range(n_atoms + 1))
