"""Provenance: what every results file, run record and benchmark says about where and how it was made."""

import re
import subprocess
import sys

from bulkmod import provenance
from bulkmod.io import REPO_ROOT
from bulkmod.provenance import command_line, git_commit, load_average, machine


def test_command_line_is_what_a_user_would_retype(monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(REPO_ROOT / "benchmarks" / "umlip.py"), "--limit", "a b"])
    assert command_line() == "python benchmarks/umlip.py --limit 'a b'"
    monkeypatch.setattr(sys, "argv", ["/venv/bin/bulkmod", "tune", "--storage", "postgresql://me:s3cret@db/optuna"])
    assert command_line() == "bulkmod tune --storage 'postgresql://me:***@db/optuna'"


def test_commit_machine_and_load_have_their_shapes():
    assert re.fullmatch(r"[0-9a-f]{4,40}(\+dirty)?|unknown", git_commit())
    assert " cpu, " in machine()
    load = load_average()
    assert load is None or (len(load) == 3 and all(x == round(x, 2) >= 0 for x in load))


def test_a_changed_results_file_is_not_dirty_code_but_a_changed_source_file_is(tmp_path, monkeypatch):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    code, result = tmp_path / "src" / "m.py", tmp_path / provenance.OUTPUTS / "r.json"
    for path in (code, result):
        path.parent.mkdir(parents=True)
        path.write_text("1\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    result.write_text("2\n")
    assert re.fullmatch(r"[0-9a-f]{4,40}", git_commit())
    code.write_text("2\n")
    assert git_commit().endswith("+dirty")
