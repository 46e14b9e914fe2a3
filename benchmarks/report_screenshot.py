"""Render a bulkmod HTML report in headless Chromium and save a PNG screenshot (checked as a person sees it).

    python benchmarks/report_screenshot.py [RESULTS.json ...]

Needs Debian's `chromium` (apt-get install chromium); not part of `make test`. Without arguments it
reports the committed descriptor-model results. Writes benchmarks/results/report_screenshot/report.html, its
figures and report.png.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from bulkmod.reports.html import build_report

RESULTS = Path(__file__).resolve().parent / "results" / "report_screenshot"
DEFAULT_INPUTS = [
    RESULTS.parent / "descriptor_models" / f"mp-binary-2025_{m}_kfold.json" for m in ("lgbm", "rf", "mean")
]
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", default=[str(p) for p in DEFAULT_INPUTS])
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    html, skipped = build_report(args.results, RESULTS / "report.html", title="bulkmod descriptor models")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size=1200,{args.height}",
                        f"--screenshot={RESULTS / 'report.png'}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    print(f"wrote {html} and {RESULTS / 'report.png'}; skipped: {skipped or 'none'}")


if __name__ == "__main__":
    main()
