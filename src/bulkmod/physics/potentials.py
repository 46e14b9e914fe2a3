"""Universal interatomic potentials behind one small interface: energies, crystal embeddings, an ASE calculator.

The E–V scan asks for energies only, of many isotropically strained copies at once, so both potentials run
energy-only batched forward passes without autograd (their ASE calculators also compute forces and stress,
which the relaxing protocols need and the scan does not). CHGNet builds one graph per neighbour topology of a
crystal's copies and reuses it for the others, changing only the lattice, since its graphs are built in Python
per structure. Each potential runs on :func:`~bulkmod.device.resolve_device`'s device, chosen when it is loaded.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cache
from importlib import metadata
from typing import ClassVar, TypeVar

import numpy as np
from pymatgen.core import Lattice, Structure

from bulkmod.device import resolve_device
from bulkmod.errors import BulkmodError

NO_EMBEDDING = "potential {!r} exposes no crystal embedding: use the chgnet potential for umlip-embed"
# CHGNet needs ~4 MB per atom in a forward pass (a 500-atom fcc cell: ~2 GB,
# benchmarks/results/chgnet_large_cell/chgnet_large_cell_exploration.json),
# so a batch is capped by atoms, not by structures: the fuzz test's five 500-atom cells (35 strained copies)
# in one call ran a 24 GB machine out of memory. The cap sets the default model's peak memory in a long predict
# run, and smaller batches cost no speed (benchmarks/results/predict_memory/predict_memory.md)
MAX_BATCH_ATOMS = 64


T = TypeVar("T")
# a crystal and the volume ratios (to its own volume) it is strained to
StrainJob = tuple[Structure, np.ndarray]


def atom_batches(items: Sequence[T], max_atoms: int = MAX_BATCH_ATOMS, size: Callable[[T], int] = len) -> list[list[T]]:
    """Consecutive groups holding at most ``max_atoms`` sites (a larger item goes alone); ``size`` counts an item's."""
    groups: list[list[T]] = []
    total = max_atoms + 1
    for item in items:
        n = size(item)
        if total + n > max_atoms:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += n
    return groups


def strained(structure: Structure, volume_ratio: float) -> Structure:
    """Isotropic strain at fixed fractional coordinates (cheaper than ``Structure.scale_lattice``)."""
    lattice = Lattice(structure.lattice.matrix * volume_ratio ** (1 / 3))
    return Structure(lattice, structure.species, structure.frac_coords)


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

    def strained_energies(self, jobs: list[StrainJob]) -> np.ndarray:
        """Energies (eV/atom) of each crystal strained to each of its volume ratios, flattened in order.

        The strain is isotropic at fixed fractional coordinates (:func:`strained`); a potential overrides this to
        share work between the copies of one crystal.
        """
        return self.energies([strained(s, r) for s, ratios in jobs for r in ratios])

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

    def _graph(self, structure: Structure):
        try:
            return self.model.graph_converter(structure)
        except (ValueError, RuntimeError) as exc:  # e.g. an atom with no neighbour inside the 6 Å cutoff
            raise BulkmodError(f"CHGNet cannot build a graph: {exc}") from None

    def _strained_graphs(self, structure: Structure, ratios: np.ndarray) -> list:
        """One graph per neighbour topology among the strained copies; the others take it with their own lattice.

        A copy scaled by ``k`` in length has the pairs the input crystal has within ``cutoff / k``. These sets nest,
        so copies with as many pairs inside both cutoffs (atom graph and bond graph) have the same graph; CHGNet
        computes distances and angles from the lattice in the forward pass, so the shared graph is exact.
        """
        import torch  # here, not at the top: listing models must not pay for torch

        conv = self.model.graph_converter
        scales = np.cbrt(np.asarray(ratios, float))
        *_, distances = structure.get_neighbor_list(
            r=conv.atom_graph_cutoff / scales.min(), sites=structure.sites, numerical_tol=1e-8
        )
        cutoffs = (conv.atom_graph_cutoff, conv.bond_graph_cutoff)
        built: dict[tuple[int, ...], object] = {}
        graphs = []
        for ratio, k in zip(ratios, scales, strict=True):
            topology = tuple(int(np.count_nonzero(distances * k <= c)) for c in cutoffs)
            if topology not in built:
                built[topology] = graph = self._graph(strained(structure, ratio))
            else:  # the lattice :func:`strained` gives, without building the copy
                graph = copy.copy(built[topology])
                lattice = structure.lattice.matrix * ratio ** (1 / 3)
                graph.lattice = torch.tensor(lattice, dtype=graph.lattice.dtype, requires_grad=True)
            graphs.append(graph)
        return graphs

    def _predict(self, graphs: list, sizes: list[int], crystal_feas: bool) -> list[dict]:
        """Energy-only forward passes (no autograd) over batches capped by atoms; ``sizes`` are the graphs' sites."""
        import torch

        results: list[dict] = []
        for group in atom_batches(list(zip(graphs, sizes, strict=True)), size=lambda item: item[1]):
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                out = self.model.predict_graph(
                    [g for g, _ in group], task="e", batch_size=len(group), return_crystal_feas=crystal_feas
                )
            results += [out] if isinstance(out, dict) else out
        return results

    def _run(self, structures: list[Structure], crystal_feas: bool) -> list[dict]:
        self.check(structures)
        return self._predict([self._graph(s) for s in structures], [len(s) for s in structures], crystal_feas)

    def energies(self, structures: list[Structure]) -> np.ndarray:
        return np.array([float(o["e"]) for o in self._run(structures, False)])

    def strained_energies(self, jobs: list[StrainJob]) -> np.ndarray:
        self.check([s for s, _ in jobs])
        graphs = [g for s, ratios in jobs for g in self._strained_graphs(s, ratios)]
        sizes = [len(s) for s, ratios in jobs for _ in ratios]
        return np.array([float(o["e"]) for o in self._predict(graphs, sizes, False)])

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
        from sevenn.calculator import SevenNetCalculator

        super().__init__(device)
        modal = {"modal": self.modal} if self.modal else {}
        with warnings.catch_warnings():
            # its notice on every load that no GPU tensor-product kernel is enabled: none exists for the CPU
            warnings.simplefilter("ignore", UserWarning)
            self._calc = SevenNetCalculator(self.model_name, device=device, **modal)
        # the scan's network: batched, energy only (the force and stress head differentiates through the graph)
        self._energy_model = copy.deepcopy(self._calc.model)
        self._energy_model.delete_module_by_key("force_output")
        self._energy_model.set_is_batch_data(True)
        self._energy_model.eval()

    @property
    def atomic_numbers(self) -> frozenset[int]:
        return frozenset(int(z) for z in self._calc.type_map)

    def _graph(self, structure: Structure):
        import sevenn._keys as keys
        from pymatgen.io.ase import AseAtomsAdaptor
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph

        graph = AtomGraphData.from_numpy_dict(
            unlabeled_atoms_to_graph(AseAtomsAdaptor.get_atoms(structure), self._calc.cutoff)
        )
        if self.modal:
            graph[keys.DATA_MODALITY] = self.modal
        return graph

    def energies(self, structures: list[Structure]) -> np.ndarray:
        """Batched energy-only forward passes; the same numbers as the ASE calculator to float32 rounding."""
        import sevenn._keys as keys
        import torch
        from torch_geometric.loader.dataloader import Collater

        self.check(structures)
        collate = Collater([], follow_batch=None, exclude_keys=None)
        out = []
        for group in atom_batches(structures):
            batch = collate([self._graph(s) for s in group]).to(self.device)
            try:
                with torch.inference_mode():
                    energy = self._energy_model(batch)[keys.PRED_TOTAL_ENERGY]
            except (ValueError, RuntimeError, IndexError) as exc:
                raise BulkmodError(f"{self.name} cannot evaluate a structure: {exc}") from None
            out.append(energy.cpu().numpy() / np.array([len(s) for s in group]))
        return np.concatenate(out) if out else np.empty(0)

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
