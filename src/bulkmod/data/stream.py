"""Prediction inputs as a lazy stream of items: files, directories, globs, multi-frame extxyz, JSON lines.

Items carry raw text or a path, never a parsed structure: the reader stays cheap and bounded in memory while
parsing happens in the (possibly remote) worker that predicts the batch. The order is deterministic, so a
resumed run can skip exactly the items an earlier run already wrote.
"""

from __future__ import annotations

import glob
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pymatgen.core import Structure

from bulkmod.data.files import (
    STRUCTURE_SUFFIXES,
    is_structure_file,
    load_json,
    max_file_bytes,
    read_frame,
    read_structure,
    structure_from_dict,
    too_large,
)
from bulkmod.errors import BulkmodError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
FRAME_SUFFIXES = (".extxyz", ".xyz")
SUFFIXES = (*STRUCTURE_SUFFIXES, *JSONL_SUFFIXES, "POSCAR", "CONTCAR")


@dataclass(frozen=True)
class Item:
    """One output row to be, of a ``kind`` that says what its payload holds.

    ``kind`` is ``file`` (payload = path), ``frame`` (extxyz text), ``json`` (a line) or ``error`` (payload = why
    the reader could not even cut out an input, e.g. an empty folder).
    """

    source: str
    kind: str
    payload: str

    def read(self) -> tuple[str, Structure]:
        """(source, structure); a JSON line's ``id`` becomes its source. Raises ``InputError`` with the reason."""
        source = self.source
        try:
            if self.kind == "error":
                raise BulkmodError(self.payload)
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
        row = load_json(line)
    except BulkmodError as exc:
        raise BulkmodError(f"{source}: {exc}") from None
    if not isinstance(row, dict):
        raise BulkmodError(f"{source}: a JSON-lines row must be an object with a structure")
    return row


def file_item(path: Path | str) -> Item:
    """The item for one structure file, named by its path."""
    return Item(str(path), "file", str(path))


def iter_items(inputs: list[str]) -> Iterator[Item]:
    """Files, folders (their structure and JSON-lines files), glob patterns; frames and lines expanded lazily.

    A folder with no input file in it still gets a row, so a mistyped path never vanishes from the output.
    """
    if not inputs:
        raise BulkmodError("no input files given")
    for arg in inputs:
        path = Path(arg)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and _is_input(p))
            if not files:
                yield Item(arg, "error", f"folder holds no structure or JSON-lines file ({', '.join(SUFFIXES)})")
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
            for lineno, (line, n) in enumerate(_capped_lines(fh), 1):
                if n > len(line):
                    yield Item(f"{path}:{lineno}", "error", f"line of {too_large(n)}")
                elif line.strip():
                    yield Item(f"{path}:{lineno}", "json", line)
    elif suffix in FRAME_SUFFIXES:
        frames = _extxyz_frames(path)
        first, second = next(frames, None), next(frames, None)
        if first is None or (second is None and first[1] is None):  # one frame: named like any structure file
            yield file_item(path)
            return
        for i, (text, why) in enumerate(itertools.chain([first], [second] if second else [], frames)):
            yield Item(f"{path}@{i}", "frame", text) if why is None else Item(f"{path}@{i}", "error", why)
    else:
        yield file_item(path)


def _capped_lines(fh: TextIO) -> Iterator[tuple[str, int]]:
    """(line, its length) for each line; a line longer than the per-structure cap comes back as ("", length).

    Such a line is read in bounded pieces, so a single gigabyte line never sits in memory.
    """
    cap = max_file_bytes()
    while line := fh.readline(cap + 1):
        if len(line) <= cap:
            yield line, len(line)
            continue
        n = len(line)
        while not line.endswith("\n") and (line := fh.readline(cap + 1)):
            n += len(line)
        yield "", n


def _atom_count(line: str) -> int | None:
    tokens = line.split()
    return int(tokens[0]) if len(tokens) == 1 and tokens[0].isdigit() else None


def _extxyz_frames(path: Path) -> Iterator[tuple[str, str | None]]:
    """Cut an (ext)xyz file into (frame text, None), or ("", why) for a frame over the size cap.

    Frames are cut by their atom-count lines without parsing the atoms. An atom line has four or more fields, so
    a lone integer inside a frame is the next frame's header: the frame before it was cut short and fails alone,
    and reading resynchronises there instead of swallowing every frame after it. Junk between frames becomes a
    piece of its own, which fails to parse on its own row.
    """
    cap = max_file_bytes()
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = _capped_lines(fh)
        pending: tuple[str, int] | None = None
        while (entry := pending or next(lines, None)) is not None:
            pending = None
            header, size = entry
            if not header.strip() and size == len(header):
                continue
            n_atoms = _atom_count(header)
            body = [header]
            if n_atoms is not None and (comment := next(lines, None)) is not None:
                body.append(comment[0])
                size += comment[1]
            for entry in lines:
                if _atom_count(entry[0]) is not None or (n_atoms is not None and len(body) == n_atoms + 2):
                    pending = entry
                    break
                size += entry[1]
                if size <= cap:
                    body.append(entry[0])
            yield ("", f"frame of {too_large(size)}") if size > cap else ("".join(body), None)
