"""Where and how a run was made: git commit, machine, command line, load average.

Results files, run records and benchmark scripts all record these, so they are computed here once (copies drift:
one masked database passwords in URL arguments, another did not). The module sits at the bottom of the house, next
to :mod:`bulkmod.io`, so that the parallel backends, evaluation, training and the benchmarks can all call it.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

from bulkmod.io import REPO_ROOT

URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
# what runs write, not what makes them: a benchmark that finishes while another's results wait to be committed
# ran the committed code all the same
OUTPUTS = "benchmarks/results"


def git_commit() -> str:
    """Short HEAD hash; ``+dirty`` when tracked files other than results have changed; ``unknown`` outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no", "--", ".", f":!{OUTPUTS}"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    """Host, architecture, CPU count and OS in one line."""
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, {platform.system()} {platform.release()}"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :func:`platform.processor` knows)."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def command_line() -> str:
    """How this run was started, as a user would retype it (`bulkmod ...` or `python benchmarks/x.py ...`).

    A password in a URL argument (e.g. ``tune --storage postgresql://user:pw@host/db``) is masked.
    """
    argv0 = Path(sys.argv[0])
    args = [URL_PASSWORD.sub(r"\1***@", a) for a in sys.argv[1:]]
    if argv0.name in ("bulkmod", "__main__.py", "cli.py"):
        return shlex.join(["bulkmod", *args])
    try:
        script = str(argv0.resolve().relative_to(REPO_ROOT))
    except ValueError:
        script = str(argv0)
    return shlex.join(["python", script, *args])


def load_average() -> list[float] | None:
    """1/5/15-minute load averages, rounded; None where the OS has none.

    Other jobs on the machine inflate wall times, so a timing is recorded with the load it ran under.
    """
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
