"""Universal interatomic potentials behind one small interface: energies, crystal embeddings, an ASE calculator.

CHGNet evaluates many strained copies in one batched forward pass (its graphs are built once per copy and
stacked); SevenNet's wheel exposes an ASE calculator that evaluates forces and stress with every energy, so it
runs one structure at a time and is several times slower here (see ``benchmarks/results/umlip/umlip.md``).
Each runs on :func:`~bulkmod.device.resolve_device`'s device, chosen when it is loaded.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from abc import ABC, abstractmethod
from functools import cache
from importlib import metadata
from typing import ClassVar

import numpy as np
from pymatgen.core import Structure

from bulkmod.device import resolve_device
from bulkmod.errors import BulkmodError
from bulkmod.optional import require

NO_EMBEDDING = "potential {!r} exposes no crystal embedding: use the chgnet potential for umlip-embed"
# CHGNet needs ~4 MB per atom in a forward pass (a 500-atom fcc cell: ~2 GB,
# benchmarks/results/chgnet_large_cell/chgnet_large_cell_exploration.json),
# so a batch is capped by atoms, not by structures: the fuzz test's five 500-atom cells (35 strained copies)
# in one call ran a 24 GB machine out of memory. The cap sets the default model's peak memory in a long predict
# run, and smaller batches cost no speed (benchmarks/results/predict_memory/predict_memory.md)
MAX_BATCH_ATOMS = 64


def atom_batches(structures: list[Structure], max_atoms: int = MAX_BATCH_ATOMS) -> list[list[Structure]]:
    """Consecutive groups holding at most ``max_atoms`` sites (a larger structure goes alone)."""
    groups: list[list[Structure]] = []
    total = max_atoms + 1
    for s in structures:
        if total + len(s) > max_atoms:
            groups.append([])
            total = 0
        groups[-1].append(s)
        total += len(s)
    return groups


class Potential(ABC):
    """A pretrained potential: ``energies`` in eV/atom, ``embeddings`` as fixed-length vectors."""

    name: ClassVar[str]
    package: ClassVar[str]
    model_name: ClassVar[str]
    embedding_size: ClassVar[int] = 0

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    @property
    def version(self) -> str:
        """Part of every cache key: new weights never reuse old numbers."""
        return f"{self.package}-{metadata.version(self.package)}-{self.model_name}"

    @property
    @abstractmethod
    def atomic_numbers(self) -> frozenset[int]:
        """The elements the potential was trained on; any other element breaks its embedding tables."""

    def unsupported(self, structure: Structure) -> str | None:
        """Why the potential cannot take ``structure`` (an element it has no parameters for), or None."""
        missing = sorted({el.symbol for el in structure.composition.elements if el.Z not in self.atomic_numbers})
        return f"{self.name} has no parameters for {', '.join(missing)}" if missing else None

    def check(self, structures: list[Structure]) -> None:
        for s in structures:
            if (why := self.unsupported(s)) is not None:
                raise BulkmodError(why)

    @abstractmethod
    def energies(self, structures: list[Structure]) -> np.ndarray: ...

    def embeddings(self, structures: list[Structure]) -> np.ndarray:
        raise BulkmodError(NO_EMBEDDING.format(self.name))

    @abstractmethod
    def calculator(self):
        """An ASE calculator (relaxation goes through matcalc)."""


class CHGNetPotential(Potential):
    """The pretrained CHGNet universal potential; it also gives a crystal embedding."""

    name = "chgnet"
    package = "chgnet"
    model_name = "0.3.0"
    embedding_size = 64

    def __init__(self, device: str = "cpu") -> None:
        from chgnet.model import CHGNet

        super().__init__(device)
        self._calc = None
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count on load
            self.model = CHGNet.load(model_name=self.model_name, use_device=device, verbose=False)

    @property
    def atomic_numbers(self) -> frozenset[int]:
        return frozenset(range(1, 95))  # CHGNet's composition model and atom embedding cover H to Pu

    def _graphs(self, structures: list[Structure]) -> list:
        self.check(structures)
        try:
            return [self.model.graph_converter(s) for s in structures]
        except (ValueError, RuntimeError) as exc:  # e.g. an atom with no neighbour inside the 5 Å cutoff
            raise BulkmodError(f"CHGNet cannot build a graph: {exc}") from None

    def _run(self, structures: list[Structure], crystal_feas: bool) -> list[dict]:
        results: list[dict] = []
        for group in atom_batches(structures):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.model.predict_graph(
                    self._graphs(group), task="e", batch_size=len(group), return_crystal_feas=crystal_feas
                )
            results += [out] if isinstance(out, dict) else out
        return results

    def energies(self, structures: list[Structure]) -> np.ndarray:
        return np.array([float(o["e"]) for o in self._run(structures, False)])

    def embeddings(self, structures: list[Structure]) -> np.ndarray:
        return np.array([o["crystal_fea"] for o in self._run(structures, True)], dtype=float)

    def calculator(self):
        # one per potential: CHGNetCalculator prints its device each time one is made, and the relaxing K
        # protocols ask for it once per crystal
        if self._calc is None:
            from chgnet.model.dynamics import CHGNetCalculator

            with contextlib.redirect_stdout(io.StringIO()):
                self._calc = CHGNetCalculator(model=self.model, use_device=self.device)
        return self._calc


class SevenNetPotential(Potential):
    """SevenNet-0 (MPtrj); the subclasses are the other checkpoints the sevenn wheel ships."""

    name = "sevennet"
    package = "sevenn"
    model_name = "7net-0"
    modal: ClassVar[str | None] = None  # the fidelity a multi-fidelity checkpoint is asked for

    def __init__(self, device: str = "cpu") -> None:
        require("sevenn")
        from sevenn.calculator import SevenNetCalculator

        super().__init__(device)
        modal = {"modal": self.modal} if self.modal else {}
        self._calc = SevenNetCalculator(self.model_name, device=device, **modal)

    @property
    def atomic_numbers(self) -> frozenset[int]:
        return frozenset(int(z) for z in self._calc.type_map)

    def energies(self, structures: list[Structure]) -> np.ndarray:
        from pymatgen.io.ase import AseAtomsAdaptor

        self.check(structures)
        out = np.empty(len(structures))
        for i, s in enumerate(structures):
            atoms = AseAtomsAdaptor.get_atoms(s)
            atoms.calc = self._calc
            out[i] = atoms.get_potential_energy() / len(atoms)
        return out

    def calculator(self):
        return self._calc


class SevenNetL3I5(SevenNetPotential):
    """SevenNet-l3i5: higher angular order (l = 3), five interaction layers, same MPtrj data."""

    name = "sevennet-l3i5"
    model_name = "7net-l3i5"


class SevenNetMF0(SevenNetPotential):
    """SevenNet-MF-0, multi-fidelity; asked for its PBE head, the level of the Materials Project labels."""

    name = "sevennet-mf-0"
    model_name = "7net-mf-0"
    modal = "PBE"


POTENTIALS: dict[str, type[Potential]] = {
    p.name: p for p in (CHGNetPotential, SevenNetPotential, SevenNetL3I5, SevenNetMF0)
}


def get_potential(name: str, device: str | None = None) -> Potential:
    """One loaded instance per process and device (``device`` None: ``--device``/``BULKMOD_DEVICE``).

    Loading the weights costs more than a small batch.
    """
    if name not in POTENTIALS:
        raise BulkmodError(f"unknown potential {name!r}: use {', '.join(POTENTIALS)}")
    return _loaded(name, resolve_device(device))


@cache
def _loaded(name: str, device: str) -> Potential:
    return POTENTIALS[name](device)
