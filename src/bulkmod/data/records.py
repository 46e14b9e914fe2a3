"""The in-memory dataset every model sees, and the report of what validation rejected."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Composition, Structure


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


@dataclass
class ValidationReport:
    n_read: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.rejected]

    @property
    def flagged(self) -> list[Problem]:
        return [p for p in self.problems if not p.rejected]

    def summary(self) -> str:
        n_rej = len({p.row for p in self.rejected})
        counts = Counter(p.reason.split(" (")[0].split(":")[0] for p in self.problems)
        parts = ", ".join(f"{k}: {v}" for k, v in counts.most_common())
        return f"{self.n_read} rows read, {self.n_read - n_rej} kept, {n_rej} rejected" + (
            f" ({parts})" if parts else ""
        )

    def as_dict(self) -> dict:
        return {
            "n_read": self.n_read,
            "n_rejected": len({p.row for p in self.rejected}),
            "problems": [p.__dict__ for p in self.problems],
        }


@dataclass
class Dataset:
    """Rows of (id, structure or composition, K_VRH, G_VRH) in dataset order.

    Moduli are in GPa (NaN where unknown, e.g. prediction inputs). ``spacegroup`` is 0 where unknown.
    """

    name: str
    ids: list[str]
    compositions: list[Composition]
    k_vrh: np.ndarray
    structures: list[Structure] | None = None
    g_vrh: np.ndarray | None = None
    spacegroup: np.ndarray | None = None
    report: ValidationReport = field(default_factory=ValidationReport)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.k_vrh = np.asarray(self.k_vrh, dtype=float)
        for name in ("compositions", "k_vrh", "structures", "g_vrh", "spacegroup"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} rows, ids has {n}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_structures(self) -> bool:
        return self.structures is not None

    @property
    def y_log10(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(self.k_vrh)

    @property
    def reduced_formulas(self) -> list[str]:
        return [c.reduced_formula for c in self.compositions]

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
        )
