"""Dependencies a library can live with: ranges in pyproject.toml, the tested set in constraints.txt, extras that
are really optional and a clear error naming the extra when one is missing."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bulkmod.errors import BulkmodError
from bulkmod.optional import EXTRAS, require

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CORE = [Requirement(r) for r in PROJECT["dependencies"]]
OPTIONAL = {extra: [Requirement(r) for r in reqs] for extra, reqs in PROJECT["optional-dependencies"].items()}


def _constraints() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pins[canonicalize_name(req.name)] = Version(next(iter(req.specifier)).version)
    return pins


def _third_party_imports() -> set[str]:
    """Top-level names of every non-stdlib module imported anywhere under src/bulkmod (lazy imports included)."""
    names = set()
    for path in (ROOT / "src" / "bulkmod").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("bulkmod", "__future__")}


def test_runtime_dependencies_are_ranges_not_pins():
    for req in CORE + [r for reqs in OPTIONAL.values() for r in reqs]:
        assert not any(s.operator in ("==", "===") for s in req.specifier), f"{req} pins a version: use a range"
    assert not {"phonopy", "e3nn"} & {canonicalize_name(r.name) for r in CORE}  # never imported by bulkmod


def test_the_tested_set_satisfies_every_range():
    pins = _constraints()
    for req in CORE + [r for extra, reqs in OPTIONAL.items() if extra != "all" for r in reqs]:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but constraints.txt does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints.txt {name}=={pins[name]} ∉ {req}"


def test_every_imported_package_is_declared_and_every_extra_module_is_guarded():
    declared = {canonicalize_name(r.name) for r in CORE} | {
        canonicalize_name(r.name) for reqs in OPTIONAL.values() for r in reqs
    }
    provides = packages_distributions()
    for module in _third_party_imports():
        dists = {canonicalize_name(d) for d in provides.get(module, [])}
        assert dists & declared, f"bulkmod imports {module!r} (from {dists or 'nowhere'}) but does not declare it"
    extra_dists = {canonicalize_name(r.name) for extra, reqs in OPTIONAL.items() if extra not in ("all", "dev")
                   for r in reqs}  # fmt: skip
    for module in EXTRAS:
        assert {canonicalize_name(d) for d in provides.get(module, [])} & extra_dists, module


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(BulkmodError, match=r"pip install 'bulkmod\[xgb\]'"):
        require("xgboost")
    from bulkmod.models import build_model
    from bulkmod.models.boosters import make_booster

    with pytest.raises(BulkmodError, match=r"XGBoost models.*bulkmod\[xgb\]"):
        make_booster("xgb", {}, seed=0)
    monkeypatch.setitem(sys.modules, "ray", None)
    from bulkmod.parallel import Backend

    with pytest.raises(BulkmodError, match=r"Ray backend.*bulkmod\[scale\]"), Backend("ray"):
        pass
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(BulkmodError, match=r"the original MEGNet weights.*bulkmod\[graph\]"):
        build_model("megnet-pretrained")


@pytest.mark.slow
def test_core_install_predicts_with_the_default_model_without_any_extra(tmp_path):
    """Every extra's modules hidden, as in an environment with the core install only."""
    blocked = sorted(EXTRAS)
    code = (
        f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\n"
        "from bulkmod.cli import main\n"
        f"sys.exit(main(['predict', 'examples/MgO.cif', 'examples/NaCl.cif', '--out', {str(tmp_path / 'k.csv')!r}]))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = (tmp_path / "k.csv").read_text().splitlines()
    assert len(lines) == 3 and all(line.endswith(",yes,") for line in lines[1:]), lines
