"""The committed benchmark results stay findable: a current index, quoted paths that exist, pairs kept together."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

from bulkmod.evaluation.results import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# a results path as the docs quote it; placeholders (<name>, {json,md}) are not paths and are skipped
QUOTED = re.compile(r"benchmarks/results/[\w./*{},<>-]*")
# the README, the model cards, and the docstrings and comments of the package and its tests (a benchmark script's
# own output path names a file it will write, which need not exist yet)
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "src").rglob("README.md")),
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.py")),
]


def load_index() -> ModuleType:
    """``benchmarks/index.py`` is a script, not a package module: load it from its file."""
    spec = importlib.util.spec_from_file_location("benchmarks_index", ROOT / "benchmarks" / "index.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_index_is_what_the_script_writes_now() -> None:
    index = load_index()
    assert index.INDEX.read_text() == index.render(), "benchmarks/results/README.md is stale: run benchmarks/index.py"


def test_every_quoted_results_path_exists() -> None:
    """A number's file must exist at the path quoted beside it (a glob must match at least one file)."""
    missing = []
    for doc in DOCS:
        quoted = {m.rstrip(".,") for m in QUOTED.findall(doc.read_text()) if not re.search(r"[<{]", m)}
        missing += [f"{doc.relative_to(ROOT)}: {q}" for q in sorted(quoted) if not list(ROOT.glob(q))]
    assert not missing, "results paths quoted but not found:\n" + "\n".join(missing)


def test_docs_quote_results_paths() -> None:
    """Guards the test above against a pattern that silently matches nothing."""
    assert len(QUOTED.findall((ROOT / "README.md").read_text())) > 20


def test_every_results_file_has_its_predictions_beside_it() -> None:
    """``predictions`` is a file name relative to the JSON, so `bulkmod report <folder>/X.json` needs the pair."""
    orphans, n = [], 0
    for path in sorted(RESULTS.rglob("*.json")):
        res = json.loads(path.read_text())
        if isinstance(res, dict) and res.get("schema") == SCHEMA:
            n += 1
            if not (path.parent / res["predictions"]).is_file():
                orphans.append(str(path.relative_to(RESULTS)))
    assert n > 100 and not orphans, orphans


def test_readme_recommendations_table_is_generated_from_the_results_it_names() -> None:
    """The README's "Their recommendations, measured" table and its results copy equal what the script makes now."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recommendations.py"), "--check"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
