"""The ``bulkmod`` command: thin verbs over the library.

Every user error is one line on stderr (``bulkmod: error: FILE: problem``) and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from bulkmod import __version__
from bulkmod.errors import BulkmodError

EPILOG = """examples:
  bulkmod predict examples/                         K for every structure file in a folder
  bulkmod predict my.cif POSCAR --out k.csv         choose files, write a CSV (or .json)
  bulkmod benchmark --dataset mp-binary-2025 --model lgbm --out r.json
  bulkmod train --model lgbm --dataset my_data.csv --out models/mine
  bulkmod diagnose r.predictions.csv --json         collapsed / biased / clipped / ok, with causes
  bulkmod data validate my_data.csv                 what would be rejected, and why

Values are bulk moduli K_VRH in GPa; models work in log10(GPa) internally. See README.md.
"""


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*r)
    Console(width=160).print(table)


def _fmt(x: float | None, spec: str = ".1f") -> str:
    import math

    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def cmd_predict(args: argparse.Namespace) -> int:
    from bulkmod.models.pretrained import load_model, resolve_model_dir
    from bulkmod.predict import expand_inputs, predict_files

    model = load_model(args.model)
    df = predict_files(expand_inputs(args.files), model, relax=None if args.relax == "none" else args.relax)
    if args.correct_to:
        import numpy as np

        from bulkmod.evaluation.experimental import ExperimentCorrection

        corr = ExperimentCorrection.fit(args.model)
        ok = df["error"].eq("")
        k, lo, hi = corr.apply(np.log10(df.loc[ok, "k_vrh_gpa"].to_numpy(float)), df.loc[ok, "formula"].tolist())
        df.loc[ok, "k_vrh_gpa"], df.loc[ok, "k_vrh_low_gpa"], df.loc[ok, "k_vrh_high_gpa"] = 10**k, 10**lo, 10**hi
        print(
            f"corrected to experiment: map fitted on {corr.n_fit} measured solids, leave-one-out MAE "
            f"{corr.loo_mae_log10:.3f} log10; intervals are the correction's own (±{corr.q90:.3f} log10)",
            file=sys.stderr,
        )
    if args.out:
        from bulkmod.io import write_text_atomic

        out = Path(args.out)
        if out.suffix == ".json":
            write_text_atomic(out, df.to_json(orient="records", indent=2))
        else:
            write_text_atomic(out, df.to_csv(index=False, float_format="%.3f"))
        print(f"wrote {len(df)} rows to {out}", file=sys.stderr)
    model_name = resolve_model_dir(args.model).name
    rows = [
        [r.source, r.formula, _fmt(r.k_vrh_gpa), _fmt(r.k_vrh_low_gpa), _fmt(r.k_vrh_high_gpa), r.in_domain, r.error]
        for r in df.itertuples()
    ]
    _print_table(
        f"Bulk modulus K_VRH (GPa), model {model_name}, 90% interval",
        ["source", "formula", "K", "low", "high", "in domain", "error"],
        rows,
    )
    n_ok = int(df["error"].eq("").sum())
    return 0 if n_ok > 0 else 1


def cmd_benchmark(args: argparse.Namespace) -> int:
    from bulkmod.evaluation.benchmark import run_benchmark

    res = run_benchmark(
        args.dataset,
        args.model,
        split=args.split,
        folds=args.folds,
        limit=args.limit,
        model_config=_model_config(args),
        out=args.out,
    )
    _print_results(res)
    return 0


TARGETS = {
    "log10-std": {"space": "log10", "standardize": True},
    "log10": {"space": "log10", "standardize": False},
    "raw-std": {"space": "gpa", "standardize": True},
    "raw": {"space": "gpa", "standardize": False},
}


def _model_config(args: argparse.Namespace) -> dict:
    """Options shared by `benchmark` and `train`, as the keyword arguments of the model's constructor."""
    from bulkmod.models import MODELS

    if args.model == "mean" or args.model not in MODELS:
        return {}  # an unknown name is reported by build_model with the list of choices
    if MODELS[args.model].family == "zero-shot":  # nothing is trained: only --param (e.g. potential=sevennet)
        return {"params": _params(args)} if args.param else {}
    cfg: dict = {}
    if args.features:
        from bulkmod.features import FeatureConfig

        cfg["features"] = FeatureConfig(tuple(args.features.split(","))).as_dict()
    if args.target:
        cfg["transform"] = dict(TARGETS[args.target])
    for key in ("inner_folds", "seed", "loss", "epochs", "lr", "weight_decay", "batch_size"):
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    if (args.checkpoint_dir or args.resume) and MODELS[args.model].family not in ("graph", "hybrid"):
        raise BulkmodError(f"--checkpoint-dir/--resume are for neural models; {args.model!r} trains in one go")
    if args.checkpoint_dir:
        cfg.setdefault("params", {})["checkpoint_dir"] = args.checkpoint_dir
    if args.resume:
        if not args.checkpoint_dir:
            raise BulkmodError("--resume needs --checkpoint-dir DIR (where the killed run saved its checkpoints)")
        cfg.setdefault("params", {})["resume"] = True
    if args.param:
        cfg.setdefault("params", {}).update(_params(args))
    return cfg


def _params(args: argparse.Namespace) -> dict:
    """``--param KEY=VALUE`` pairs; values parse as JSON where they can (numbers, lists, booleans)."""
    out = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise BulkmodError(f"--param {item!r}: use KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _add_training_options(sp: argparse.ArgumentParser, inner_folds_default: int | None) -> None:
    from bulkmod.features.featurizer import ALL_GROUPS

    g = sp.add_argument_group("model and training options")
    g.add_argument("--features", help=f"comma-separated descriptor groups from {','.join(ALL_GROUPS)}")
    g.add_argument(
        "--target",
        choices=list(TARGETS),
        help="what the model regresses: log10(K) standardised (default), log10, raw GPa standardised, or raw GPa",
    )
    g.add_argument("--loss", choices=["mse", "huber", "l1"], help="training loss (default mse)")
    g.add_argument(
        "--inner-folds",
        type=int,
        default=inner_folds_default,
        help="folds carved from the training part for early stopping; >= 2 also calibrates conformal "
        "intervals (nested: the test fold never chooses anything)",
    )
    g.add_argument("--epochs", type=int, help="neural models: maximum epochs")
    g.add_argument("--lr", type=float, help="neural models: learning rate")
    g.add_argument(
        "--weight-decay", type=float, help="neural models: weight decay (AdamW, or SGD with --param optimizer=sgd)"
    )
    g.add_argument("--batch-size", type=int, help="neural models: batch size")
    g.add_argument(
        "--checkpoint-dir", help="neural models: save a checkpoint every epoch here (one sub-folder per fold)"
    )
    g.add_argument("--resume", action="store_true", help="neural models: continue a killed run from --checkpoint-dir")
    g.add_argument("--param", action="append", metavar="KEY=VALUE", help="model-specific hyper-parameter (repeatable)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")


def _print_results(res: dict) -> None:
    from bulkmod.evaluation.metrics import HEADLINE

    keys = ["n", *HEADLINE, "coverage_90"]
    rows = [[k, _fmt(res.get(k), ".4f") if k != "n" else str(res["n"])] for k in keys if k in res]
    rows += [[f"MAE K {b['k_bin_gpa']} GPa (n={b['n']})", _fmt(b["mae_log10"], ".4f")] for b in res["per_k_bin"]]
    _print_table(
        f"{res['model']} on {res['dataset']} ({res['split']}, {res['wall_s']:.0f} s)", ["metric", "value"], rows
    )
    if res.get("leaderboard"):
        _print_table(
            "matbench leaderboard, same samples",
            ["model", "n", "MAE theirs", "MAE ours", "ours better"],
            [
                [
                    r["model"],
                    str(r["n_shared"]),
                    f"{r['mae_leaderboard']:.4f}",
                    f"{r['mae_ours']:.4f}",
                    f"{r['frac_samples_ours_better']:.0%}",
                ]
                for r in res["leaderboard"]
            ],
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.correct_to == "experiment" or args.dataset == "expt-jarvis":
        from bulkmod.evaluation.experimental import evaluate_experimental

        res = evaluate_experimental(args.model, args.dataset, correct=bool(args.correct_to), out=args.out)
        _print_results(res)
        for key in ("per_class_uncorrected", "per_class_corrected"):
            if key in res:
                _print_table(
                    key.replace("_", " "),
                    ["class", "n", "MAE log10", "median pred/exp", "Spearman"],
                    [
                        [
                            r["material_class"],
                            str(r["n"]),
                            f"{r['mae_log10']:.3f}",
                            f"{r['median_ratio_pred_exp']:.3f}",
                            _fmt(r["spearman"], ".2f"),
                        ]
                        for r in res[key]
                    ],
                )
        for row in res["out_of_domain"]:
            print(f"not scored: {row['id']} {row['formula']}: {row['note']}", file=sys.stderr)
        return 0
    from bulkmod.evaluation.evaluate import evaluate

    res = evaluate(args.model, args.dataset, out=args.out)
    _print_results(res)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from bulkmod.training.fit import train_and_save

    path = train_and_save(
        args.model, args.dataset, Path(args.out), model_config=_model_config(args), cv_folds=args.cv, cv_out=args.cv_out
    )
    print(f"saved model to {path}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from bulkmod.evaluation.diagnose import diagnose, diagnose_to_json, read_predictions

    k_true, k_pred = read_predictions(args.predictions, log10=True if args.log10 else None)
    res = diagnose(k_true, k_pred, model_dir=args.model)
    if args.report:
        from bulkmod.reports.html import diagnosis_report

        print(f"wrote {diagnosis_report(k_true, k_pred, res, args.report)}", file=sys.stderr)
    if args.json:
        print(diagnose_to_json(res))
        return 0
    ev = res["evidence"]
    rows = [
        [k, json.dumps(v, default=lambda x: round(float(x), 4)) if isinstance(v, list) else _fmt(v, ".4g")]
        for k, v in ev.items()
    ]
    _print_table(f"diagnosis: {res['verdict'].upper()}", ["evidence", "value"], rows)
    for title, items in (("likely causes", res["causes"]), ("fixes to try", res["fixes"])):
        if items:
            print(f"{title}:")
            for it in items:
                print(f"  - {it}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bulkmod.reports.html import build_report

    path, skipped = build_report(args.results, args.out, title=args.title)
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(f"wrote {path} and figures in {path.with_name(path.stem + '_figures')}/")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from bulkmod.data import DATASETS, load_dataset

    if args.action == "list":
        print("\n".join(DATASETS))
        return 0
    if not args.target:
        raise BulkmodError(f"data {args.action}: name a dataset, CSV file or CGCNN folder")
    if args.action == "fetch":
        from bulkmod.data.loaders import matbench_structure_file

        if args.target != "matbench-log-kvrh":
            raise BulkmodError("only matbench-log-kvrh is fetched from the network")
        print(matbench_structure_file(args.path, allow_download=True))
        return 0
    ds = load_dataset(args.target)
    rep = ds.report
    if args.json:
        print(json.dumps(rep.as_dict(), indent=2))
    else:
        print(f"{ds.name}: {rep.summary()}")
        for p in rep.problems[: args.show]:
            print("  " + p.line())
        if len(rep.problems) > args.show:
            print(f"  ... {len(rep.problems) - args.show} more (use --show N or --json)")
    return 1 if rep.rejected and args.strict else 0


def cmd_models(args: argparse.Namespace) -> int:
    from bulkmod.models import MODELS
    from bulkmod.models.pretrained import DEFAULT_MODEL, list_pretrained

    _print_table(
        "registry models (train with `bulkmod train`)",
        ["key", "family", "what"],
        [[k, s.family, s.summary] for k, s in MODELS.items()],
    )
    _print_table(
        "shipped models", ["name", "default"], [[n, "yes" if n == DEFAULT_MODEL else ""] for n in list_pretrained()]
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from bulkmod.data.splits import SPLITS

    p = argparse.ArgumentParser(
        prog="bulkmod",
        description="Predict, diagnose and fix bulk-modulus models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"bulkmod {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    sp = add("predict", cmd_predict, "predict K_VRH (GPa) with a 90%% interval for CIF/POSCAR/extxyz files")
    sp.add_argument("files", nargs="+", help="structure files, folders or glob patterns")
    sp.add_argument("--model", default="default", help="shipped model name, saved model directory, or 'default'")
    sp.add_argument("--out", help="write results to X.csv or X.json (one row per input file)")
    sp.add_argument(
        "--correct-to",
        choices=["experiment"],
        help="map the DFT-level prediction to experiment with the correction fitted on expt-jarvis (see README)",
    )
    sp.add_argument(
        "--relax",
        choices=["none", "chgnet", "sevennet"],
        default="none",
        help="relax each structure (cell + ions) with a universal potential first: use for hand-built or strained "
        "cells, whose density-based descriptors would otherwise be off (chgnet ~1 s/crystal, sevennet ~30 s)",
    )

    model_help = "registry key (see `bulkmod models`): mean, rf, lgbm, xgb, ..."
    sp = add("benchmark", cmd_benchmark, "cross-validate a model on a dataset and write a results JSON")
    sp.add_argument("--dataset", required=True, help="dataset name (`bulkmod data list`), CSV or CGCNN folder")
    sp.add_argument("--model", required=True, help=model_help)
    sp.add_argument("--split", default="kfold", choices=list(SPLITS), help="train/test split (default kfold)")
    sp.add_argument("--folds", type=int, default=5, help="K for kfold/formula-grouped (default 5)")
    sp.add_argument("--limit", type=int, help="use a fixed seeded random subset of exactly N rows")
    _add_training_options(sp, None)
    sp.add_argument("--out", required=True, help="results JSON; predictions CSV is written beside it")

    sp = add("evaluate", cmd_evaluate, "evaluate a trained model on a whole dataset and write a results JSON")
    sp.add_argument("--model", required=True, help="shipped model name or saved model directory")
    sp.add_argument("--dataset", required=True, help="dataset name, CSV or CGCNN folder")
    sp.add_argument("--out", required=True, help="results JSON")
    sp.add_argument(
        "--correct-to",
        choices=["experiment"],
        help="also fit a DFT->experiment correction on the "
        "experimental set, scored leave-one-out (with --dataset expt-jarvis or a CSV of measured K)",
    )

    sp = add("train", cmd_train, "train a model on a whole dataset and save it (manifest + safe weights)")
    sp.add_argument("--model", required=True, help=model_help)
    sp.add_argument(
        "--dataset", required=True, help="dataset name, CSV (structure file or formula + target) or CGCNN folder"
    )
    sp.add_argument("--out", required=True, help="directory to save the model in")
    sp.add_argument("--cv", type=int, default=0, help="also run K-fold CV first and store its metrics in the manifest")
    sp.add_argument("--cv-out", help="with --cv: also write the CV results JSON (and predictions CSV) here")
    _add_training_options(sp, 5)

    sp = add("diagnose", cmd_diagnose, "say whether predictions collapsed, are biased, clipped or ok, and why")
    sp.add_argument("predictions", help="CSV with y_true/y_pred columns (GPa) or y_true_log10/y_pred_log10")
    sp.add_argument("--log10", action="store_true", help="the CSV's values are log10(GPa)")
    sp.add_argument("--model", help="saved model directory: also read its manifest and training log")
    sp.add_argument("--json", action="store_true", help="machine-readable verdict, evidence, causes and fixes")
    sp.add_argument("--report", help="also write an HTML report with parity, residual and range plots")

    sp = add("report", cmd_report, "one self-contained HTML report (parity, residuals, calibration, comparison)")
    sp.add_argument("results", nargs="+", help="results JSON files (bulkmod-results/1); others are skipped and listed")
    sp.add_argument("--out", default="report.html", help="HTML file; PNG figures go to <name>_figures/ beside it")
    sp.add_argument("--title", default="bulkmod report")

    sp = add("data", cmd_data, "list, validate or fetch datasets")
    sp.add_argument("action", choices=["list", "validate", "fetch"])
    sp.add_argument("target", nargs="?", help="dataset name, CSV file or CGCNN folder")
    sp.add_argument("--path", help="fetch: a local copy of the file instead of downloading")
    sp.add_argument("--json", action="store_true", help="validate: full report as JSON")
    sp.add_argument("--show", type=int, default=20, help="validate: problems to print (default 20)")
    sp.add_argument("--strict", action="store_true", help="validate: exit 1 if any row is rejected")

    add("models", cmd_models, "list registry models and shipped models")
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BulkmodError as exc:
        print(f"bulkmod: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bulkmod: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
