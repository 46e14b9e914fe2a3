"""A model made of other models: what every composite (routed, blend, ensemble, quantile) does the same way.

Each member is a whole estimator saved in ``member_<i>/`` with its own manifest, hashes and weights, so a composite
loads through exactly the checks any model does. The base holds the members, writes and reads them, refuses to
predict before ``fit``, passes the interval level on, merges the rows members could not predict, and declares
:meth:`CompositeEstimator.member_predictions` so that a benchmark asks every composite instead of probing for it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Estimator, Prediction
from bulkmod.models.safety import model_subdir


class CompositeEstimator(Estimator):
    """An estimator whose predictions come from ``members``, each a fitted :class:`Estimator`."""

    # True where every member predicts every row on its own (a blend, an ensemble), so comparing the composite with
    # its members is meaningful; False where members split the rows or predict something else (quantiles)
    members_comparable: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.members: list[Estimator] = []

    @abstractmethod
    def n_members(self) -> int:
        """How many members a fitted model of this configuration has (what loading expects to find)."""

    def fitted_members(self) -> list[Estimator]:
        """The members, or a :class:`BulkmodError` before ``fit`` (or ``load``) gave any."""
        if not self.members:
            raise BulkmodError("model is not fitted")
        return self.members

    def member_predictions(self, ds: Dataset) -> np.ndarray | None:
        """(members, rows) of each member's mean, so a benchmark can check that the composite beats its members.

        None where members are not alternatives to the composite (``members_comparable``).
        """
        if not self.members_comparable:
            return None
        return np.stack([m.predict(ds).mean_log10 for m in self.fitted_members()])

    @staticmethod
    def merged_errors(preds: Iterable[Prediction], rows: Sequence[np.ndarray] | None = None) -> dict[int, str]:
        """The rows any member could not predict, as rows of the composite's input.

        ``rows[k]`` says where member ``k``'s input rows sit in it (None: every member saw all of it).
        """
        out: dict[int, str] = {}
        for k, pred in enumerate(preds):
            out |= {int(i if rows is None else rows[k][i]): why for i, why in pred.errors.items()}
        return out

    def set_level(self, level: float) -> Self:
        """Intervals at ``level`` here and in every member (a member's own interval may be what is reported)."""
        super().set_level(level)
        for member in self.members:
            member.set_level(level)
        return self

    def _write_weights(self, directory: Path) -> list[str]:
        """Each member in ``member_<i>/`` with its own manifest; returns every file written."""
        files = []
        for i, member in enumerate(self.members):
            sub = directory / f"member_{i}"
            member.save(sub)
            files += [f"member_{i}/{p.name}" for p in sorted(sub.iterdir()) if p.is_file()]
        return files

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        """The members :meth:`_write_weights` saved, each a real sub-folder loaded with every check of ``load``."""
        self.members = [Estimator.load(model_subdir(directory, f"member_{i}")) for i in range(self.n_members())]
