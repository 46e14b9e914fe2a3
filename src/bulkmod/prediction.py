"""Batch prediction: one output row per input, good or bad, in input order.

``predict_stream`` screens inputs of any size: batches of ``batch_size`` items are parsed, featurised and
predicted as backend tasks with a bounded number in flight, and each finished batch is appended to the CSV
(flushed and fsynced) before a small progress file records it, so a killed run resumes without losing or
repeating rows.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bulkmod.data.records import Dataset
from bulkmod.data.stream import InputError, Item, file_item
from bulkmod.data.validate import RawRow, build_dataset
from bulkmod.errors import BulkmodError
from bulkmod.io import write_json_atomic
from bulkmod.models.base import Estimator, Prediction
from bulkmod.parallel import Backend, Shared
from bulkmod.text import csv_cell

OUTPUT_COLUMNS = ["source", "formula", "k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa", "in_domain", "error"]
K_COLUMNS = ["k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa"]
TEXT_COLUMNS = ("source", "formula", "in_domain", "error")
FLOAT_FORMAT = "%.3f"
BATCH_SIZE = 256
PROGRESS_FORMAT = "bulkmod-predict-progress/1"


def predict_files(paths: list[Path], model: Estimator, *, relax: str | None = None) -> pd.DataFrame:
    """Predict K for each file; unreadable or invalid files get an ``error`` and an empty K."""
    return mark_duplicates(predict_items([file_item(p) for p in paths], model, relax=relax), {})


def predict_items(items: list[Item], model: Estimator, *, relax: str | None = None) -> pd.DataFrame:
    """Parse, validate and predict a batch; exactly one row per item, failures in ``error``.

    ``relax`` names a potential that relaxes each structure first (column ``relaxed`` says how it went);
    model-specific outputs (e.g. the E–V fit's ``k_prime``) come as extra columns after ``error``.
    """
    rows = []
    for i, item in enumerate(items):
        row = RawRow(id=str(i), source=item.source)
        try:
            row.source, row.structure = item.read()
        except InputError as exc:
            row.source, row.error = exc.source, exc.reason
        rows.append(row)
    ds = build_dataset("input", rows, require_target=False)
    errors = {p.row: p.reason for p in ds.report.rejected}
    out = pd.DataFrame(
        {
            "source": [r.source for r in rows],
            "formula": "",
            "k_vrh_gpa": np.nan,
            "k_vrh_low_gpa": np.nan,
            "k_vrh_high_gpa": np.nan,
            "in_domain": "",
            "error": "",
        }
    )
    extra_cols: dict[str, pd.Series] = {}
    if len(ds) and relax:
        ds, relax_notes, relax_errors = _relaxed(ds, relax)
        extra_cols["relaxed"] = pd.Series(relax_notes, index=[int(i) for i in ds.ids])
        errors |= relax_errors
    if len(ds):
        pred = predict_isolating_failures(model, ds)
        pos = np.array([int(i) for i in ds.ids])
        out.loc[pos, "formula"] = [s.composition.reduced_formula for s in ds.structures]
        seen = set(model.train_info.get("elements", []))
        if seen or model.domain:  # outside the training domain, the prediction is an extrapolation
            far = model.domain.check(ds) if model.domain else [""] * len(ds)
            out.loc[pos, "in_domain"] = [
                "no: unseen element" if seen and not {e.symbol for e in c.elements} <= seen
                else f"no: {why}" if why else "yes"
                for c, why in zip(ds.compositions, far, strict=True)
            ]  # fmt: skip
        out.loc[pos, "k_vrh_gpa"] = 10.0**pred.mean_log10
        if pred.lo90_log10 is not None:
            out.loc[pos, "k_vrh_low_gpa"] = 10.0**pred.lo90_log10
            out.loc[pos, "k_vrh_high_gpa"] = 10.0**pred.hi90_log10
        for j, why in pred.errors.items():
            errors[int(pos[j])] = why
        extra_cols |= {name: pd.Series(values, index=pos) for name, values in pred.extra.items()}
    for i, why in errors.items():
        out.loc[i, K_COLUMNS] = np.nan
        out.loc[i, "error"] = why
    for name, col in extra_cols.items():
        out[name] = col
    for col in TEXT_COLUMNS:  # names and messages come from the inputs: no escapes, markup or formulas pass
        out[col] = [csv_cell(v) if v else v for v in out[col]]
    return out[OUTPUT_COLUMNS + list(extra_cols)]


def predict_isolating_failures(model: Estimator, ds: Dataset) -> Prediction:
    """The batch in one call; if anything in it fails, row by row, so one crystal costs only its own row.

    Validation refuses every failure class we know of with a clear reason; this catches the ones we do not,
    naming the exception instead of losing the batch.
    """
    try:
        return model.predict(ds)
    except Exception:  # any failure: retried row by row, where it lands on the row that causes it
        return stack_predictions([_predict_row(model, ds, j) for j in range(len(ds))])


def _predict_row(model: Estimator, ds: Dataset, j: int) -> Prediction:
    try:
        return model.predict(ds.subset([j]))
    except Exception as exc:
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no message"
        return Prediction(np.full(1, np.nan), errors={0: f"could not be predicted ({type(exc).__name__}: {why})"})


def stack_predictions(parts: list[Prediction]) -> Prediction:
    """One ``Prediction`` from per-row ones; a part without an array (a failed row) is NaN there."""

    def cat(attr: str) -> np.ndarray | None:
        if all(getattr(p, attr) is None for p in parts):
            return None
        return np.concatenate([_or_nan(getattr(p, attr), len(p.mean_log10)) for p in parts])

    offsets = np.cumsum([0] + [len(p.mean_log10) for p in parts])
    errors = {int(o + j): why for p, o in zip(parts, offsets, strict=False) for j, why in p.errors.items()}
    names = list(dict.fromkeys(k for p in parts for k in p.extra))
    extra = {k: np.concatenate([_or_nan(p.extra.get(k), len(p.mean_log10), object) for p in parts]) for k in names}
    return Prediction(cat("mean_log10"), cat("std_log10"), cat("lo90_log10"), cat("hi90_log10"), errors, extra)


def _or_nan(values: np.ndarray | None, n: int, dtype: type = float) -> np.ndarray:
    return np.asarray(values, dtype=dtype) if values is not None else np.full(n, np.nan, dtype=dtype)


def mark_duplicates(df: pd.DataFrame, seen: dict[str, int], offset: int = 0) -> pd.DataFrame:
    """A source met again (a JSON id used twice, a file named twice) gets an error, not a second prediction.

    ``seen`` maps each source to its first output row and carries over from batch to batch; ``offset`` is the
    output row of ``df``'s first row.
    """
    for j, source in enumerate(df["source"]):
        first = seen.setdefault(source, offset + j)
        if first != offset + j:
            df.loc[j, K_COLUMNS] = np.nan
            df.loc[j, "in_domain"] = ""
            df.loc[j, "error"] = f"duplicate input: {source} is also row {first + 1}; predicted there only"
    return df


def _relaxed(ds: Dataset, potential: str) -> tuple[Dataset, list[str], dict[int, str]]:
    """The rows whose relaxation worked, with relaxed structures; failures become row errors."""
    from bulkmod.physics.relax import relax_structures

    outcomes = relax_structures(ds.structures, potential)
    keep = [j for j, o in enumerate(outcomes) if o.structure is not None]
    errors = {int(ds.ids[j]): o.note for j, o in enumerate(outcomes) if o.structure is None}
    sub = ds.subset(keep)
    sub.structures = [outcomes[j].structure for j in keep]
    return sub, [outcomes[j].note for j in keep], errors


def _predict_batch(task: tuple[Shared, list[Item], str | None]) -> pd.DataFrame:
    """The unit a backend runs: the model arrives once per worker, the batch as raw text or paths."""
    model, items, relax = task
    return predict_items(items, model.get(), relax=relax)


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def predict_batches(
    items: Iterable[Item],
    model: Estimator,
    backend: Backend,
    *,
    batch_size: int = BATCH_SIZE,
    relax: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Frames of predictions in input order; at most two batches per worker are in flight at any time."""
    if batch_size < 1:
        raise BulkmodError(f"--batch-size {batch_size}: need at least 1")
    shared = backend.share(model)
    tasks = ((shared, batch, relax) for batch in _batches(items, batch_size))
    return backend.imap(_predict_batch, tasks, window=2 * backend.capacity())


class ResumableCsv:
    """An append-only CSV plus ``<stem>.progress.json`` (rows, bytes and columns committed, and what the run was).

    The CSV is fsynced before the progress file is atomically replaced, so after a kill the progress file never
    counts a row that is not on disk; bytes written after it (a half batch) are cut off on resume. The header
    comes with the first batch, because a model may add columns (e.g. ``k_prime``) after ``error``.
    """

    def __init__(self, out: Path, fingerprint: dict[str, Any], *, resume: bool) -> None:
        self.out, self.fingerprint = out, fingerprint
        self.progress = out.with_name(out.stem + ".progress.json")
        state = self._read_state() if resume else None
        if state is None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"")
            self.rows, self.n_ok, self.complete, self.columns = 0, 0, False, None
            self._commit()
        else:
            with open(out, "r+b") as fh:
                fh.truncate(state["bytes"])
            self.rows, self.n_ok, self.complete = state["rows"], state["n_ok"], state["complete"]
            self.columns: list[str] | None = state["columns"]

    def _read_state(self) -> dict[str, Any] | None:
        if not self.progress.exists() or not self.out.exists():
            return None
        state = json.loads(self.progress.read_text())
        if state.get("format") != PROGRESS_FORMAT or state.get("run") != self.fingerprint:
            raise BulkmodError(
                f"{self.progress}: --resume needs the same inputs, model and options as the killed run "
                f"(it was {state.get('run')}); drop --resume to start over"
            )
        if self.out.stat().st_size < state["bytes"]:
            raise BulkmodError(f"{self.out}: shorter than its progress file says; drop --resume to start over")
        return state

    def sources(self) -> dict[str, int]:
        """Each committed row's source and its row (a resumed run still knows which inputs it has seen)."""
        if self.rows == 0:
            return {}
        col = pd.read_csv(self.out, usecols=["source"], dtype=str, keep_default_na=False)["source"]
        return {src: i for i, src in reversed(list(enumerate(col)))}

    def append(self, df: pd.DataFrame) -> None:
        header = self.columns is None
        if header:
            self.columns = list(df.columns)
        text = df.reindex(columns=self.columns).to_csv(index=False, header=header, float_format=FLOAT_FORMAT)
        with open(self.out, "ab") as fh:
            fh.write(text.encode())
            fh.flush()
            os.fsync(fh.fileno())
        self.rows += len(df)
        self.n_ok += int(df["error"].eq("").sum())
        self._commit()

    def finish(self) -> None:
        self.complete = True
        self._commit()

    def _commit(self) -> None:
        write_json_atomic(
            self.progress,
            {"format": PROGRESS_FORMAT, "run": self.fingerprint, "rows": self.rows, "n_ok": self.n_ok,
             "bytes": self.out.stat().st_size, "columns": self.columns, "complete": self.complete},
        )  # fmt: skip


def predict_stream(
    items: Iterable[Item],
    model: Estimator,
    out: Path,
    backend: Backend,
    *,
    fingerprint: dict[str, Any],
    resume: bool = False,
    batch_size: int = BATCH_SIZE,
    relax: str | None = None,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ResumableCsv:
    """Predict every item into the CSV ``out``; with ``resume``, skip the rows a killed run already committed."""
    sink = ResumableCsv(out, fingerprint, resume=resume)
    if sink.complete:
        return sink
    todo = itertools.islice(items, sink.rows, None)
    seen = sink.sources()
    done = sink.rows
    if progress and done:
        progress(done)  # rows a killed run already committed
    held: list[pd.DataFrame] = []  # leading all-error batches lack the model's extra columns: wait for a good one
    for df in predict_batches(todo, model, backend, batch_size=batch_size, relax=relax):
        df = mark_duplicates(transform(df) if transform else df, seen, done)
        done += len(df)
        if progress:
            progress(len(df))
        if sink.columns is None and not df["error"].eq("").any():
            held.append(df)
            continue
        sink.append(pd.concat([*held, df], ignore_index=True) if held else df)
        held = []
    if held:
        sink.append(pd.concat(held, ignore_index=True))
    sink.finish()
    return sink
