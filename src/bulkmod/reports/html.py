"""One self-contained HTML report (figures embedded as base64 PNG, no network) from results files.

It reads only ``bulkmod-results/1`` files and lists every input it skipped, with the reason.
"""

from __future__ import annotations

import base64
import html
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import wilcoxon

from bulkmod.errors import BulkmodError
from bulkmod.evaluation.results import read_results
from bulkmod.io import write_text_atomic
from bulkmod.reports import figures
from bulkmod.reports.tables import COLUMNS

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:49%;margin:4px 0}
img.wide{max-width:98%}.scroll{overflow-x:auto;max-width:100%}tr.best{background:#e8f5e9;font-weight:bold}
.verdict{font-size:1.3em;font-weight:bold}.skip{color:#a33}"""


def _readable(v: object) -> str:
    """Numbers as a reader compares them: four significant figures, so a p-value of 3e-12 is not "0.0000"."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_readable(x) for x in v)
    return str(v)


@dataclass
class Report:
    """Collects sections and figures; ``write`` saves the HTML and a PNG per figure beside it."""

    title: str
    parts: list[str] = field(default_factory=list)
    pngs: dict[str, bytes] = field(default_factory=dict)

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str, cls: str = "") -> None:
        self.parts.append(f"<p class='{cls}'>{html.escape(text)}</p>")

    def table(self, df: pd.DataFrame, highlight: list[bool] | None = None) -> None:
        """A scrollable table of escaped cells, numbers to four significant figures; ``highlight`` marks rows."""
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        body = []
        for k, row in enumerate(df.itertuples(index=False)):
            cls = " class='best'" if highlight is not None and highlight[k] else ""
            body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_readable(v))}</td>" for v in row) + "</tr>")
        self.parts.append(f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>")

    def figure(self, name: str, fig: Figure, wide: bool = False) -> None:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        data = buf.getvalue()
        self.pngs[name] = data
        b64 = base64.b64encode(data).decode()
        cls = " class='wide'" if wide else ""
        self.parts.append(f"<img{cls} alt='{html.escape(name)}' src='data:image/png;base64,{b64}'>")

    def write(self, out: Path | str) -> Path:
        out = Path(out)
        body = "\n".join(self.parts)
        doc = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(self.title)}</h1>{body}</body></html>"
        )
        write_text_atomic(out, doc)
        fig_dir = out.with_name(out.stem + "_figures")
        fig_dir.mkdir(parents=True, exist_ok=True)
        for name, data in self.pngs.items():
            (fig_dir / f"{name}.png").write_bytes(data)
        return out


def _load(paths: list[str]) -> tuple[list[tuple[str, dict, pd.DataFrame]], list[str]]:
    loaded, skipped = [], []
    for p in paths:
        try:
            res = read_results(p)
            preds = pd.read_csv(Path(p).parent / res["predictions"], keep_default_na=True)
        except BulkmodError as exc:  # its message already names the file
            skipped.append(str(exc))
            continue
        except (OSError, KeyError) as exc:
            skipped.append(f"{p}: {exc}")
            continue
        loaded.append((Path(p).stem, res, preds))
    return loaded, skipped


def _sample_groups(preds: pd.DataFrame) -> dict[str, list[str]] | None:
    """Crystal system and number of elements per sample, read from the predictions file.

    None for a file written before it carried the crystal system: the report never reloads or re-featurises a
    dataset to fill it in.
    """
    if "crystal_system" not in preds:
        return None
    return {
        "crystal system": preds["crystal_system"].astype(str).tolist(),
        "number of elements": [f"{int(n)} elements" for n in preds["n_elements"]],
    }


def _comparison(loaded: list[tuple[str, dict, pd.DataFrame]]) -> pd.DataFrame:
    """Headline metrics, plus a paired Wilcoxon test against the best run on the same dataset."""
    rows = []
    for name, res, preds in loaded:
        err = (preds.set_index("id")["y_pred_log10"] - preds.set_index("id")["y_true_log10"]).abs()
        peers = [(n, r, p) for n, r, p in loaded if r["dataset"] == res["dataset"]]
        best_name, _, best_preds = min(peers, key=lambda t: t[1]["mae_log10"])
        best_err = (best_preds.set_index("id")["y_pred_log10"] - best_preds.set_index("id")["y_true_log10"]).abs()
        shared = err.index.intersection(best_err.index)
        p = np.nan
        if best_name != name and len(shared) > 10:
            p = float(wilcoxon(err[shared].to_numpy(), best_err[shared].to_numpy()).pvalue)
        rows.append(
            {
                "run": name,
                "model": res["model"],
                "dataset": res["dataset"],
                "split": res["split"],
                "n": res["n"],
                **{c: res.get(c) for c in COLUMNS},
                "n shared with best": len(shared),
                "paired p vs best": p,
                "best": name == best_name,
            }
        )
    return pd.DataFrame(rows).sort_values(["dataset", "mae_log10"], kind="stable", ignore_index=True)


def build_report(paths: list[str], out: Path | str, title: str = "bulkmod report") -> tuple[Path, list[str]]:
    """Write one self-contained HTML report comparing the results files in ``paths``.

    Unreadable inputs are skipped and listed, in the report and in the returned list, rather than failing the
    whole report.
    """
    loaded, skipped = _load(paths)
    if not loaded:
        raise BulkmodError("no readable bulkmod-results/1 file among the inputs: " + "; ".join(skipped))
    rep = Report(title)
    if skipped:
        rep.heading("Skipped inputs")
        for s in skipped:
            rep.text(s, "skip")
    rep.heading("Model comparison")
    rep.text("Sorted by dataset, then MAE; the best run on each dataset is highlighted, and every other run's "
             "paired Wilcoxon p-value is against it on the crystals both predicted.")  # fmt: skip
    table = _comparison(loaded)
    rep.table(table.drop(columns="best"), highlight=table["best"].tolist())
    for k, (name, res, preds) in enumerate(loaded, 1):
        label = f"{name}: {res['model']} on {res['dataset']} ({res['split']})"
        print(f"report: run {k}/{len(loaded)}, {label}", file=sys.stderr, flush=True)
        rep.heading(label)
        ok = np.isfinite(preds["y_pred_log10"])
        y, p = preds["y_true_log10"].to_numpy()[ok], preds["y_pred_log10"].to_numpy()[ok]
        rep.text(
            f"n = {res['n']}, MAE {res['mae_log10']:.4f} log10 ({res['mae_gpa']:.1f} GPa), "
            f"spread ratio {res['spread_ratio']:.2f}, R² (GPa) {res['r2_gpa']:.3f}"
        )
        std = preds["std_log10"].to_numpy()[ok]
        has_std = np.isfinite(std).any()
        rep.figure(
            f"{name}_parity",
            figures.parity(
                y, p, std if has_std else preds["fold"].to_numpy()[ok], "σ (log10)" if has_std else "fold", label
            ),
        )
        rep.figure(f"{name}_residuals", figures.residuals_vs_true(y, p, "residual vs true K"))
        rep.figure(f"{name}_range", figures.range_picture(y, p, "prediction range vs true range"))
        groups = _sample_groups(preds[ok])
        if groups is None:
            rep.text("no breakdown (predictions file predates crystal_system)")
        for label, g in (groups or {}).items():
            if len(set(g)) < 2:
                rep.text(f"all {len(g)} crystals share one {label} ({g[0]}): no breakdown")
                continue
            rep.figure(f"{name}_by_{label.replace(' ', '_')}", figures.error_by_group(g, np.abs(p - y), label))
        lo, hi = preds["lo90_log10"].to_numpy()[ok], preds["hi90_log10"].to_numpy()[ok]
        if np.isfinite(lo).any():
            rep.figure(f"{name}_calibration", figures.calibration(y, p, lo, hi, std if has_std else None), wide=True)
        if res.get("leaderboard"):
            rep.heading("matbench leaderboard, same samples", 3)
            rep.table(pd.DataFrame(res["leaderboard"]))
    return rep.write(out), skipped


def diagnosis_report(k_true: np.ndarray, k_pred: np.ndarray, result: dict, out: Path | str) -> Path:
    """The `bulkmod diagnose --report` page for a user's own predictions."""
    rep = Report("bulkmod diagnosis")
    rep.text(f"verdict: {result['verdict']}", "verdict")
    rep.table(pd.DataFrame([{"evidence": k, "value": _readable(v)} for k, v in result["evidence"].items()]))
    for title, items in (("Likely causes", result["causes"]), ("Fixes to try", result["fixes"])):
        if items:
            rep.heading(title)
            rep.parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
    y = np.log10(k_true)
    p = np.log10(np.where(k_pred > 0, k_pred, np.nan))
    ok = np.isfinite(p)
    rep.figure("parity", figures.parity(y[ok], p[ok], title="your predictions"))
    rep.figure("residuals", figures.residuals_vs_true(y[ok], p[ok]))
    rep.figure("range", figures.range_picture(y[ok], p[ok], "prediction range vs true range"))
    return rep.write(out)
