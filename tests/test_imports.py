"""The import graph of ``src/bulkmod``: no cycles and no upward imports (``ARCHITECTURE.md``: data flows one way).

Every ``import`` statement counts, wherever it stands: at the top, inside a function (a lazy import is still a
dependency, and lazy imports are how cycles hid here), under ``if TYPE_CHECKING:`` or in a ``try``. Strings handed
to ``importlib`` are not edges: that is how the model registry names the estimator modules it loads, as an
entry-point table would.

An edge goes to the module that supplies the name: ``from bulkmod.features import structure`` (a submodule) depends
on ``bulkmod.features.structure``; ``from bulkmod.features import featurize`` (a name the package ``__init__``
defines or re-exports) depends on ``bulkmod.features``. A package ``__init__`` importing its own submodules is a
normal edge down; a submodule importing a name from its package's ``__init__`` is an edge up to it, and a cycle
when that ``__init__`` imports the submodule, as it is at run time (the submodule sees a half-initialised package).
Importing ``bulkmod.x.y`` runs ``bulkmod/x/__init__.py`` first, but that is not counted as an edge to
``bulkmod.x``: Python has the package in ``sys.modules`` while its ``__init__`` runs, so it never fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module may import modules of its own layer (cycles aside) and of the layers below it; each entry
# names a module or a package (all its submodules). Where ARCHITECTURE.md's list is not an order, the code decides:
# - parallel "depends only on io, errors, provenance" (and optional, which names a missing extra), so it sits just
#   above them and any layer may use it;
# - physics below features: the featurizer assembles the E–V and embedding feature groups physics computes;
# - uncertainty below models: estimators hold conformal intervals and a domain, the uncertainty code no estimator;
# - prediction (the batch/stream predict loop) beside evaluation: both run trained models, neither uses the other;
# - reports below training (the workflows): ``train`` writes a model card; reports read results and manifests only;
# - the public API, the CLI and the package root (its lazy ``__getattr__`` imports api) on top.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "bulkmod.errors",
        "bulkmod.text",
        "bulkmod.progress",
        "bulkmod.io",
        "bulkmod.provenance",
        "bulkmod.optional",
        "bulkmod.device",
    ),
    ("bulkmod.parallel",),
    ("bulkmod.data",),
    ("bulkmod.physics",),
    ("bulkmod.features",),
    ("bulkmod.graphs",),
    ("bulkmod.uncertainty",),
    ("bulkmod.models",),
    ("bulkmod.evaluation", "bulkmod.prediction"),
    ("bulkmod.reports",),
    ("bulkmod.training",),
    ("bulkmod.api", "bulkmod.cli", "bulkmod"),
)


def module_files(src: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``src/package`` (a package is its ``__init__.py``)."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _known(name: str, modules: set[str]) -> str | None:
    """``name`` if it is one of ``modules``, else its longest prefix that is (``pkg.mod.attr`` -> ``pkg.mod``), else
    None (a module outside the package)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if (prefix := ".".join(parts[:end])) in modules:
            return prefix
    return None


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``module`` imports, anywhere in its file, relative imports resolved."""
    is_package = path.name == "__init__.py"
    own_package = module.split(".") if is_package else module.split(".")[:-1]
    targets: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets |= {_known(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = own_package[: len(own_package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else _known(base, modules))
    return {t for t in targets if t is not None and t != module}


def import_graph(src: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    files = module_files(src, package)
    names = set(files)
    return {module: imports_of(module, path, names) for module, path in files.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every module in one lies on
    a cycle with every other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """The shortest closed path through the component's first module (repeated at the end): where to cut."""
    start, members = component[0], set(component)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")  # unreachable


def layer_of(module: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """Index of the layer whose entry is ``module`` or a package holding it (the longest such entry wins).

    The top-level package stands for its ``__init__`` only, so that a new module is in no layer until placed.
    """
    best: tuple[int, int] | None = None  # (entry length, layer)
    for i, entries in enumerate(layers):
        for entry in entries:
            holds = "." in entry and module.startswith(entry + ".")
            if (module == entry or holds) and (best is None or len(entry) > best[0]):
                best = (len(entry), i)
    return None if best is None else best[1]


def layering_problems(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """A line for every module in no layer and every import of a module from a higher layer."""
    problems = [f"{m} is in no layer: add it to LAYERS" for m in sorted(graph) if layer_of(m, layers) is None]
    for module in sorted(graph):
        here = layer_of(module, layers)
        for target in sorted(graph[module]):
            there = layer_of(target, layers)
            if here is not None and there is not None and there > here:
                problems.append(f"{module} (layer {layers[here]}) imports {target} (higher: layer {layers[there]})")
    return problems


def test_bulkmod_has_no_import_cycle():
    graph = import_graph(SRC, "bulkmod")
    found = [f"{' -> '.join(shortest_cycle(graph, c))}  (cycle among {', '.join(c)})" for c in import_cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_bulkmod_imports_only_downwards():
    problems = layering_problems(import_graph(SRC, "bulkmod"), LAYERS)
    assert not problems, "\n".join(problems)


# --- the checker itself, on small synthetic packages ---


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_a_cycle_through_a_lazy_import(tmp_path):
    src = _package(tmp_path, {
        "pkg/__init__.py": "from pkg.registry import MODELS\n",
        "pkg/registry.py": "from pkg.model import Model\nMODELS = {'m': Model}\n",
        "pkg/model.py": "class Model:\n    def load(self):\n        from .registry import MODELS\n",
    })  # fmt: skip
    graph = import_graph(src, "pkg")
    assert graph["pkg.model"] == {"pkg.registry"}
    assert import_cycles(graph) == [["pkg.model", "pkg.registry"]]
    assert shortest_cycle(graph, ["pkg.model", "pkg.registry"]) == ["pkg.model", "pkg.registry", "pkg.model"]


def test_checker_finds_a_cycle_through_a_package_init(tmp_path):
    src = _package(tmp_path, {
        "pkg/__init__.py": "from pkg.featurizer import featurize\nCONFIG = 1\n",
        "pkg/featurizer.py": "from pkg import CONFIG\n\ndef featurize():\n    return CONFIG\n",
    })  # fmt: skip
    assert import_cycles(import_graph(src, "pkg")) == [["pkg", "pkg.featurizer"]]


def test_checker_passes_a_layered_package_and_resolves_relative_imports(tmp_path):
    src = _package(tmp_path, {
        "pkg/__init__.py": "from pkg.models.tree import Tree\n",
        "pkg/errors.py": "class Error(Exception): ...\n",
        "pkg/data/__init__.py": "from .records import Dataset\n",
        "pkg/data/records.py": "from ..errors import Error\nclass Dataset: ...\n",
        "pkg/models/__init__.py": "",
        "pkg/models/base.py": "import pkg.errors\nfrom ..data import Dataset\n",
        "pkg/models/tree.py": "from . import base\nfrom .base import *\n",
    })  # fmt: skip
    graph = import_graph(src, "pkg")
    assert graph == {
        "pkg": {"pkg.models.tree"},
        "pkg.errors": set(),
        "pkg.data": {"pkg.data.records"},
        "pkg.data.records": {"pkg.errors"},
        "pkg.models": set(),
        "pkg.models.base": {"pkg.errors", "pkg.data"},
        "pkg.models.tree": {"pkg.models.base"},
    }
    assert import_cycles(graph) == []
    layers = (("pkg.errors",), ("pkg.data",), ("pkg.models",), ("pkg",))
    assert layering_problems(graph, layers) == []


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ((("pkg.low",), ("pkg.high",), ("pkg",)), ["pkg.low (layer ('pkg.low',)) imports pkg.high.x (higher: layer "
                                                   "('pkg.high',))"]),
        ((("pkg.high",), ("pkg",)), ["pkg.low is in no layer: add it to LAYERS"]),
    ],
)  # fmt: skip
def test_checker_reports_upward_imports_and_unplaced_modules(tmp_path, layers, expected):
    src = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg.high.x import g\n",
        "pkg/high/__init__.py": "",
        "pkg/high/x.py": "def g(): ...\n",
    })  # fmt: skip
    assert layering_problems(import_graph(src, "pkg"), layers) == expected
