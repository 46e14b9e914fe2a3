"""The in-memory dataset every model sees, and the report of what validation rejected."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Structure

from bulkmod.errors import BulkmodError


@dataclass(frozen=True)
class Problem:
    """One row that was rejected (never silently dropped) or flagged (kept, with a warning)."""

    row: int
    id: str
    source: str
    reason: str
    rejected: bool = True

    def line(self) -> str:
        what = "rejected" if self.rejected else "flagged"
        return f"{self.source}: row {self.row} ({self.id}): {what}: {self.reason}"


def _kind(reason: str) -> str:
    """A reason without its particulars, so a summary counts kinds of problem, not one line per row.

    "same formula and space group as mp-1; ..." becomes "same formula and space group".
    """
    return re.split(r" \(|:|;| as | of ", reason, maxsplit=1)[0]


@dataclass
class ValidationReport:
    """``n_read`` source rows and their problems; ``n_joined`` is set when a join merged them into fewer rows."""

    n_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    n_joined: int | None = None

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.rejected]

    @property
    def flagged(self) -> list[Problem]:
        return [p for p in self.problems if not p.rejected]

    @property
    def n_rejected(self) -> int:
        """Rejected source rows; a row is named by (source, row) because a joined report spans several files."""
        return len({(p.source, p.row) for p in self.rejected})

    def summary(self) -> str:
        n_rej = self.n_rejected
        counts = Counter(_kind(p.reason) for p in self.problems)
        parts = ", ".join(f"{k}: {v}" for k, v in counts.most_common())
        joined = "" if self.n_joined is None else f", joined into {self.n_joined} rows"
        return f"{self.n_read} rows read, {self.n_read - n_rej} kept, {n_rej} rejected{joined}" + (
            f" ({parts})" if parts else ""
        )

    def as_dict(self) -> dict:
        out = {"n_read": self.n_read, "n_rejected": self.n_rejected}
        if self.n_joined is not None:
            out["n_joined"] = self.n_joined
        return {**out, "problems": [p.__dict__ for p in self.problems]}


@dataclass
class Dataset:
    """Rows of (id, structure or composition, K_VRH, G_VRH) in dataset order.

    Moduli are in GPa (NaN where unknown, e.g. prediction inputs). ``spacegroup`` is 0 where unknown.

    ``structures`` is all-or-none, as every structure model expects: a list only when every row has one.
    A dataset where only some rows have one (a join of structure and composition sources) keeps them in
    ``partial_structures`` (None where missing) and leaves ``structures`` None, so code that needs
    structures refuses it (:meth:`require_structures`) instead of meeting a None. Use ``row_structures``
    and ``structure_mask`` to reach the structures that exist. ``meta`` holds per-row provenance columns a
    join adds (sources, every source's K, ...).
    """

    name: str
    ids: list[str]
    compositions: list[Composition]
    k_vrh: np.ndarray
    structures: list[Structure] | None = None
    g_vrh: np.ndarray | None = None
    spacegroup: np.ndarray | None = None
    report: ValidationReport = field(default_factory=ValidationReport)
    partial_structures: list[Structure | None] | None = None
    meta: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.k_vrh = np.asarray(self.k_vrh, dtype=float)
        for name in ("compositions", "k_vrh", "structures", "g_vrh", "spacegroup", "partial_structures", "meta"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} rows, ids has {n}")
        if self.partial_structures is not None:
            # one representation per state: all rows -> structures, no row -> neither, some rows -> partial
            if self.structures is not None:
                raise ValueError("give structures or partial_structures, not both")
            present = [s is not None for s in self.partial_structures]
            if not any(present):
                self.partial_structures = None
            elif all(present):
                self.structures, self.partial_structures = list(self.partial_structures), None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_structures(self) -> bool:
        """Every row has a structure (a dataset where only some do is False: see ``structure_mask``)."""
        return self.structures is not None

    @property
    def row_structures(self) -> list[Structure | None]:
        """Each row's structure, None where the row has none."""
        if self.structures is not None:
            return self.structures
        return self.partial_structures if self.partial_structures is not None else [None] * len(self)

    @property
    def structure_mask(self) -> np.ndarray:
        return np.array([s is not None for s in self.row_structures], dtype=bool)

    def require_structures(self, need: str) -> None:
        """Raise unless every row has a structure; ``need`` says who needs them (``"graph models need ..."``)."""
        if self.has_structures:
            return
        n_have = int(self.structure_mask.sum())
        detail = (
            "this dataset has compositions only"
            if n_have == 0
            else f"only {n_have} of {len(self)} rows have one: use a composition model, or the rows with structures"
        )
        raise BulkmodError(f"{self.name}: {need}; {detail}")

    @property
    def y_log10(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(self.k_vrh)

    @property
    def reduced_formulas(self) -> list[str]:
        return [c.reduced_formula for c in self.compositions]

    @property
    def chemical_systems(self) -> list[str]:
        """Sorted element set per row, e.g. ``"Mg-O"`` for both MgO and MgO2."""
        return [c.chemical_system for c in self.compositions]

    def subset(self, idx: np.ndarray | list[int], name: str | None = None) -> Dataset:
        idx = np.asarray(idx, dtype=int)
        pick = lambda seq: None if seq is None else [seq[i] for i in idx]  # noqa: E731
        return Dataset(
            name=name or self.name,
            ids=pick(self.ids),
            compositions=pick(self.compositions),
            k_vrh=self.k_vrh[idx],
            structures=pick(self.structures),
            g_vrh=None if self.g_vrh is None else self.g_vrh[idx],
            spacegroup=None if self.spacegroup is None else self.spacegroup[idx],
            report=self.report,
            partial_structures=pick(self.partial_structures),
            meta=None if self.meta is None else self.meta.iloc[idx].reset_index(drop=True),
        )
