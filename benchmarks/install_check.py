"""Does `pip install .` leave an environment's own numpy and torch alone? A documented check (needs the index).

    python benchmarks/install_check.py [--numpy 2.3.5] [--torch 2.5.0]

Makes a fresh venv holding numpy at ``--numpy`` (a real wheel) and a torch at ``--torch`` (a metadata-only
stand-in: what pip's resolver sees of an installed torch is its dist-info, and a real second torch build is
several GB), then asks pip what installing this checkout would change (`pip install --dry-run --report`).
Passes if neither numpy nor torch is in the install list, i.e. the ranges in pyproject.toml admit them.
Writes benchmarks/results/install_check/install_check.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "install_check"


def fake_distribution(site: Path, name: str, version: str) -> None:
    """An installed-looking distribution with metadata only (no code), as pip's resolver sees one."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numpy", default="2.3.5")
    parser.add_argument("--torch", default="2.5.0")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from bulkmod.provenance import command_line, git_commit, load_average, machine

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bulkmod-install-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run([*pip, "install", f"numpy=={args.numpy}"], check=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        fake_distribution(site, "torch", args.torch)
        report = Path(tmp) / "report.json"
        subprocess.run([*pip, "install", "--dry-run", "--report", str(report), str(ROOT)], check=True)
        planned = json.loads(report.read_text())["install"]
    to_install = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in planned}
    kept = {"numpy": "numpy" not in to_install, "torch": "torch" not in to_install}
    res = {
        "what": "pip install --dry-run of this checkout into a venv holding another numpy and torch",
        "preinstalled": {"numpy": args.numpy, "torch": f"{args.torch} (metadata-only stand-in)"},
        "kept_preinstalled": kept, "passed": all(kept.values()), "would_install": to_install,
        "wall_s": round(time.perf_counter() - t0, 1),
        "command": command_line(), "commit": git_commit(), "machine": machine(),
        "load_avg": load_average(),
    }  # fmt: skip
    (RESULTS / "install_check.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = [
        "# `pip install .` into an environment with its own numpy and torch\n",
        f"Preinstalled numpy {args.numpy} and torch {args.torch} (metadata-only stand-in). "
        f"Kept numpy: {kept['numpy']}; kept torch: {kept['torch']}. "
        f"pip would add {len(to_install)} other distributions (listed in install_check.json).\n",
        f"Command: `{res['command']}` at commit {res['commit']}; machine: {res['machine']}.",
    ]
    (RESULTS / "install_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not res["passed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
