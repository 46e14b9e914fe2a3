"""A README ("model card") for every saved model, written from its manifest: what it is and how wrong it is."""

from __future__ import annotations

from pathlib import Path

from bulkmod.evaluation.metrics import HEADLINE
from bulkmod.features import FeatureConfig
from bulkmod.io import write_text_atomic
from bulkmod.models.base import read_manifest


def _scale_text(manifest: dict) -> str:
    """What σ(x) of a normalised interval is, read from the saved options.

    The options sit at the top level since typed options, inside ``params`` in older manifests.
    """
    cfg = manifest.get("config", {})
    opts = cfg | cfg.get("params", {})
    if manifest["family"] == "ensemble":
        if opts.get("sigma", "disagreement") == "mixture":
            return "the members' mixture std (their own errors plus their disagreement)"
        return "how much models trained on different subsets of the training rows disagree (std of their predictions)"
    if opts.get("laplace"):
        return "the predictive std of a last-layer Laplace posterior"
    if opts.get("mc_samples"):
        return f"the std over {opts['mc_samples']} Monte-Carlo dropout passes"
    return "a second model of the log |error|, cross-fitted on the training folds"


def _potential(cfg: dict) -> str | None:
    """The potential a model runs: a zero-shot model's own, or the one behind its umlip-* features."""
    if cfg.get("features"):
        features = FeatureConfig.from_dict(cfg["features"])  # its default for manifests older than the field
        if features.uses_potential:
            return features.potential
    return cfg.get("potential")


def write_model_card(directory: Path, command: str = "") -> Path:
    """Write the model card, ``README.md`` in Markdown, into a saved model's ``directory``, from its manifest alone."""
    m = read_manifest(directory)
    metrics, train, cfg = m.get("metrics", {}), m.get("train", {}), m.get("config", {})
    lines = [
        f"# {m['name']}",
        "",
        f"`{m['model']}` ({m['family']}) trained on `{train.get('dataset')}` ({train.get('n')} crystals"
        + (f", data hash `{train['data_hash']}`" if train.get("data_hash") else "")
        + "). Predicts log10(K_VRH / GPa).",
        "",
    ]
    if train.get("note"):
        lines += [f"**Note:** {train['note']}", ""]
    if cfg.get("features"):
        lines += [f"Features: {', '.join(cfg['features']['groups'])}. Target transform: {cfg.get('transform')}.", ""]
    if potential := _potential(cfg):
        lines += [f"Universal potential: `{potential}` (run at prediction time for every new crystal).", ""]
    if metrics:
        lines += [f"## Cross-validated errors ({metrics.get('cv', 'cv')}, same folds as `bulkmod benchmark`)", ""]
        lines += ["| metric | value |", "|---|---|"]
        for key in ("n", *HEADLINE, "coverage_90"):
            if key in metrics:
                val = metrics[key]
                lines.append(f"| {key} | {val if isinstance(val, int) else f'{val:.4f}'} |")
        if metrics.get("per_k_bin"):
            lines += ["", "| true K (GPa) | n | MAE log10 | bias log10 | 90 % coverage |", "|---|---|---|---|---|"]
            for b in metrics["per_k_bin"]:
                if b["n"]:
                    cov = f"{b['coverage_90']:.2f}" if "coverage_90" in b else ""
                    lines.append(
                        f"| {b['k_bin_gpa']} | {b['n']} | {b['mae_log10']:.3f} | {b['bias_log10']:+.3f} | {cov} |"
                    )
        for column, rows in metrics.get("per_group", {}).items():
            lines += ["", f"| {column} | n | MAE log10 | MAE GPa | 90 % coverage |", "|---|---|---|---|---|"]
            for r in rows:
                cov = f"{r['coverage_90']:.2f}" if "coverage_90" in r else ""
                lines.append(f"| {r[column]} | {r['n']} | {r['mae_log10']:.3f} | {r['mae_gpa']:.1f} | {cov} |")
        lines.append("")
    if m.get("conformal"):
        c = m["conformal"]
        lines += ["## Interval", ""]
        if c.get("normalized"):
            width = metrics.get("width90_log10_p10_p90")
            spread = (
                f" Across the CV test crystals the full 90 % width ran from {width[0]:.3f} to {width[1]:.3f} "
                "log10 (p10-p90)."
                if width
                else ""
            )
            scale = _scale_text(m)
            power = "" if c.get("power", 1.0) == 1.0 else f" ^ {c['power']}"
            lines.append(
                f"90 % normalised (adaptive) conformal interval: prediction ± {c['q90']:.2f} × σ(x){power}, where σ(x) "
                f"is {scale}, calibrated on "
                f"{c['n_calibration']} out-of-fold residuals: wide for crystals like those it got wrong in training "
                f"(soft, layered, unusual chemistry), narrow for the easy ones.{spread}"
            )
        else:
            lines.append(
                f"90 % split-conformal interval: prediction ± {c['q90']:.3f} log10 (×/÷ {10 ** c['q90']:.2f}), from "
                f"{c['n_calibration']} out-of-fold residuals of the training data. The band has the same width for "
                "every crystal, so it over-covers stiff crystals and under-covers soft ones."
            )
        lines.append("")
    members = sorted(directory.glob("member_*/"))
    if members and not m.get("conformal"):
        how = (
            "Each crystal gets the 90 % interval of the member that predicts it (`member_0` when it has a structure, "
            "else `member_1`); each member calibrates its own:"
            if m["model"] == "structure-routed"
            else "The mean of its members' 90 % bounds; each member calibrates its own:"
        )
        lines += ["## Interval", "", how, ""]
        for sub in members:
            mm = read_manifest(sub)
            groups = ", ".join((mm["config"].get("features") or {}).get("groups", []))
            if mm["config"].get("stack") is True:
                groups += " and the composition model's prediction (stacked)"
            c = mm.get("conformal") or {}
            kind = "adaptive" if c.get("normalized") else "constant band"
            lines.append(
                f"- `{sub.name}`: `{mm['model']}` on {groups or 'its inputs'}; {kind} conformal interval, "
                f"q90 {c.get('q90', float('nan')):.2f} from {c.get('n_calibration')} out-of-fold residuals"
            )
        lines.append("")
    if command:
        lines += ["## Reproduce", "", f"```\n{command}\n```", ""]
    path = directory / "README.md"
    write_text_atomic(path, "\n".join(lines))
    return path
