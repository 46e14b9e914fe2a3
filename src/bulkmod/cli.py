"""The ``bulkmod`` command: thin verbs over the library.

Every user error is one line on stderr (``bulkmod: error: FILE: problem``) and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from bulkmod import __version__
from bulkmod.errors import BulkmodError, BulkmodWarning
from bulkmod.text import printable

EPILOG = """examples:
  bulkmod predict examples/                         K for every structure file in a folder
  bulkmod predict my.cif POSCAR --out k.csv         choose files, write a CSV (or .json)
  bulkmod benchmark --dataset mp-binary-2025 --model lgbm --out r.json
  bulkmod train --model lgbm --dataset my_data.csv --out models/mine
  bulkmod tune --model lgbm --dataset mp-binary-2025 --out tuned/ --backend ray
  bulkmod train --config tuned/best_config.json --dataset mp-binary-2025 --out models/tuned
  bulkmod predict big.jsonl --out k.csv --backend ray --ray-address HEAD:6379   (add --resume after a kill)
  bulkmod diagnose r.predictions.csv --json         collapsed / biased / clipped / ok, with causes
  bulkmod data validate my_data.csv                 what would be rejected, and why

Values are bulk moduli K_VRH in GPa; models work in log10(GPa) internally. See README.md.
"""


PREDICT_EPILOG = """output: one row per input (file, frame, JSON line, or a folder holding none), columns
  source, formula, k_vrh_gpa, k_vrh_low_gpa, k_vrh_high_gpa   K and its interval (GPa; --level, default 0.9)
  in_domain   "yes", or "no: <why>" when the crystal has an element the model never saw or descriptors
              beyond the training data: the number is an extrapolation
  error       why an input got no K (unparseable, partial occupancy, too many sites, a repeat, ...); empty if ok
  then model-specific columns (e.g. the E-V fit's k_prime).

exit code: 0 when at least one input was predicted, 1 when none was, 2 on a usage error.

environment:
  BULKMOD_MAX_ATOMS     sites per structure before it is refused (default 500)
  BULKMOD_MAX_FILE_MB   megabytes per structure input before it is refused (default 64)
  BULKMOD_CACHE         feature and download cache (default ~/.cache/bulkmod)
  BULKMOD_DEVICE        auto, cpu or cuda: where potentials and graph networks run (--device sets it)
"""


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from bulkmod.text import markup_safe

    table = Table(title=markup_safe(title))
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:  # cells hold file names and ids from the inputs: shown as written, never as markup
        table.add_row(*(markup_safe(v) for v in r))
    Console(width=160).print(table)


def _fmt(x: float | None, spec: str = ".1f") -> str:
    import math

    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


TABLE_ROWS = 200  # a screening run's CSV is not echoed row by row
TRAIN_PROBLEMS_SHOWN = 10


def _backend(args: argparse.Namespace):
    from bulkmod.device import ENV, resolve_device
    from bulkmod.parallel import Backend

    if args.device:  # checked here, once; worker processes inherit the choice
        resolve_device(args.device)
        os.environ[ENV] = args.device
    return Backend(args.backend, address=args.ray_address, workers=args.workers)


def _experiment_correction(model: str):
    """Per-batch map of DFT-level predictions to experiment (fitted once, on expt-jarvis)."""
    import numpy as np

    from bulkmod.evaluation.experimental import ExperimentCorrection

    corr = ExperimentCorrection.fit(model)
    print(
        f"corrected to experiment: map fitted on {corr.n_fit} measured solids, leave-one-out MAE "
        f"{corr.loo_mae_log10:.3f} log10; intervals are the correction's own (±{corr.q90:.3f} log10)",
        file=sys.stderr,
    )

    def apply(df):
        ok = df["error"].eq("")
        if ok.any():
            k, lo, hi = corr.apply(np.log10(df.loc[ok, "k_vrh_gpa"].to_numpy(float)), df.loc[ok, "formula"].tolist())
            df.loc[ok, "k_vrh_gpa"], df.loc[ok, "k_vrh_low_gpa"], df.loc[ok, "k_vrh_high_gpa"] = 10**k, 10**lo, 10**hi
        return df

    return apply


def cmd_predict(args: argparse.Namespace) -> int:
    """K for every structure in the inputs: a table on the terminal, or with --out a streamed CSV or a JSON file."""
    import pandas as pd

    from bulkmod.data.stream import iter_items
    from bulkmod.models.pretrained import load_model, resolve_model_dir
    from bulkmod.parallel import write_run_record
    from bulkmod.prediction import predict_batches, predict_stream
    from bulkmod.progress import progress_bar

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise BulkmodError(f"--out {printable(out)}: bulkmod writes .csv (streamed, resumable) or .json")
    if out is not None and out.exists() and not (args.resume or args.overwrite):
        raise BulkmodError(f"{printable(out)} exists: pass --overwrite to replace it, or --resume to continue it")
    stream = out is not None and out.suffix.lower() == ".csv"
    if args.resume and not stream:
        raise BulkmodError("--resume continues a CSV: give --out X.csv")
    if args.correct_to and args.level != 0.9:
        raise BulkmodError("--correct-to experiment gives the correction's own 90 % interval: drop --level")
    model = load_model(args.model).set_level(args.level)
    model_dir = resolve_model_dir(args.model)
    if model.train_info.get("note"):
        print(f"note: {model.train_info['note']}", file=sys.stderr)
    relax = None if args.relax == "none" else args.relax
    transform = _experiment_correction(args.model) if args.correct_to else None
    items = iter_items(args.files)
    shown = sys.stderr.isatty()  # tqdm's own rule for disable=None: a bar only on a terminal
    # a text-only pass (nothing parsed) gives the bar its ETA; a run into a pipe or a log file skips it
    total = sum(1 for _ in iter_items(args.files)) if shown else None
    bar = progress_bar(desc="predict", total=total, unit="crystal", show=shown, smoothing=0.1)
    with _backend(args) as backend, bar:
        if stream:
            run = {"inputs": args.files, "model": str(model_dir.resolve()), "correct_to": args.correct_to,
                   "relax": relax, "level": args.level}  # fmt: skip
            sink = predict_stream(
                items, model, out, backend, fingerprint=run, resume=args.resume, batch_size=args.batch_size,
                relax=relax, transform=transform, progress=bar.update,
            )  # fmt: skip
            n_rows, n_ok = sink.rows, sink.n_ok
            df = pd.read_csv(out, keep_default_na=False) if n_rows <= TABLE_ROWS else None
        else:
            frames = []
            for frame in predict_batches(items, model, backend, batch_size=args.batch_size, relax=relax):
                frames.append(transform(frame) if transform else frame)
                bar.update(len(frame))
            df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            n_rows, n_ok = len(df), int(df["error"].eq("").sum()) if len(df) else 0
            if out is not None:
                from bulkmod.io import write_text_atomic

                write_text_atomic(out, df.to_json(orient="records", indent=2))
        if n_rows == 0:
            raise BulkmodError("no structure files or rows found in the inputs")
        if out is not None:
            write_run_record(out, backend, n_rows=n_rows, n_ok=n_ok, batch_size=args.batch_size)
    if out is not None:
        print(f"wrote {n_rows} rows ({n_rows - n_ok} with an error) to {printable(out)}", file=sys.stderr)
    if df is not None:
        k, lo, hi = (pd.to_numeric(df[c], errors="coerce") for c in ("k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa"))
        rows = [
            [r.source, r.formula, _fmt(a), _fmt(b), _fmt(c), r.in_domain, r.error]
            for r, a, b, c in zip(df.itertuples(), k, lo, hi, strict=True)
        ]
        _print_table(
            f"Bulk modulus K_VRH (GPa), model {model_dir.name}, {args.level:.0%} interval",
            ["source", "formula", "K", "low", "high", "in domain", "error"],
            rows,
        )
    return 0 if n_ok > 0 else 1


def cmd_benchmark(args: argparse.Namespace) -> int:
    """Cross-validate a model on a dataset and write a results JSON."""
    from bulkmod.evaluation.benchmark import run_benchmark
    from bulkmod.parallel import write_run_record

    with _backend(args) as backend:
        res = run_benchmark(
            args.dataset,
            args.model,
            split=args.split,
            folds=args.folds,
            limit=args.limit,
            model_config=_model_config(args),
            out=args.out,
        )
        write_run_record(args.out, backend)
    _print_results(res)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Search hyper-parameters with nested cross-validation and write the best config for `bulkmod train`."""
    from bulkmod.parallel import write_run_record
    from bulkmod.training.tune import CONFIG_FILE, tune

    with _backend(args) as backend:
        res = tune(
            args.dataset,
            args.model,
            args.out,
            trials=args.trials,
            timeout=args.timeout,
            split=args.split,
            outer_folds=args.folds,
            inner_folds=args.inner_cv,
            limit=args.limit,
            storage=args.storage,
            seed=args.seed or 0,
            batch=args.parallel_trials,
            model_config=_model_config(args),
        )
        write_run_record(args.out, backend)
    _print_results(res)
    print(f"best config: {Path(args.out) / CONFIG_FILE} (use `bulkmod train --config FILE`)", file=sys.stderr)
    return 0


TARGETS = {
    "log10-std": {"space": "log10", "standardize": True},
    "log10": {"space": "log10", "standardize": False},
    "raw-std": {"space": "gpa", "standardize": True},
    "raw": {"space": "gpa", "standardize": False},
}


def _with_umlip_settings(model: str, features: dict | None, **changes: str) -> dict:
    """``features`` (else the model's own) with the potential's settings changed (``eos_centre``, ``potential``).

    ``--eos-centre`` needs the umlip-eos group; ``--potential`` any umlip-* group.
    """
    from dataclasses import replace

    from bulkmod.features import FeatureConfig
    from bulkmod.models import build_model

    base = FeatureConfig.from_dict(features) if features else getattr(build_model(model), "features", None)
    if "eos_centre" in changes:
        need, found = "umlip-eos group; add it", base is not None and "umlip-eos" in base.groups
    else:
        need, found = "umlip-* group; add one", base is not None and base.uses_potential
    if not found:
        flags = "/".join(f"--{key.replace('_', '-')}" for key in changes)
        raise BulkmodError(f"{flags}: {model}'s features have no {need} with --features ...,umlip-eos")
    return replace(base, **changes).as_dict()


def _model_config(args: argparse.Namespace) -> dict:
    """Options shared by `benchmark` and `train`, as the keyword arguments of the model's constructor."""
    from bulkmod.models import MODELS

    if args.model == "mean" or args.model not in MODELS:
        return {}  # an unknown name is reported by build_model with the list of choices
    if MODELS[args.model].family == "zero-shot":  # nothing is trained: only the potential and --param
        params = _params(args) | ({"potential": args.potential} if args.potential else {})
        return {"params": params} if params else {}
    cfg: dict = {}
    if args.features:
        from bulkmod.features import FeatureConfig

        cfg["features"] = FeatureConfig(tuple(args.features.split(","))).as_dict()
    umlip = {key: value for key in ("eos_centre", "potential") if (value := getattr(args, key))}
    if umlip:
        cfg["features"] = _with_umlip_settings(args.model, cfg.get("features"), **umlip)
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


# Spelled out so that building the parser (and `--help`) imports none of the library: bulkmod.data and
# bulkmod.features pull in pandas, scikit-learn and pymatgen. tests/test_cli.py checks them against SPLITS and
# ALL_GROUPS, so they cannot drift.
SPLIT_NAMES = ("kfold", "matbench-official", "formula-grouped", "chemsys-grouped", "ood-elastic2015")
POTENTIAL_NAMES = ("chgnet", "sevennet", "sevennet-l3i5", "sevennet-mf-0")
FEATURE_GROUPS = ("magpie", "stoich", "extra", "fractions", "spacegroup", "density", "coordination", "bonds",
                  "packing", "mismatch", "umlip-eos", "umlip-ions", "umlip-relaxed", "umlip-embed")  # fmt: skip


def _add_training_options(sp: argparse.ArgumentParser) -> None:
    g = sp.add_argument_group("model and training options")
    g.add_argument("--features", help=f"comma-separated descriptor groups from {','.join(FEATURE_GROUPS)}")
    g.add_argument(
        "--eos-centre",
        choices=["bracket", "equilibrium"],
        help="where the umlip-eos features' E-V scan sits: bracket (around the input cell, as the shipped models) "
        "or equilibrium (around the potential's own V0: features that do not depend on the input cell)",
    )
    g.add_argument(
        "--potential",
        choices=POTENTIAL_NAMES,
        help="the universal potential behind the umlip-eos features, or the zero-shot model's (default chgnet, the "
        "cheapest; the shipped default model uses sevennet-mf-0)",
    )
    g.add_argument(
        "--target",
        choices=list(TARGETS),
        help="what the model regresses: log10(K) standardised (default), log10, raw GPa standardised, or raw GPa",
    )
    g.add_argument("--loss", choices=["mse", "huber", "l1"], help="training loss (default mse)")
    g.add_argument(
        "--inner-folds",
        type=int,
        help="folds carved from the training part for early stopping; >= 2 also calibrates conformal "
        "intervals (nested: the test fold never chooses anything; `train` default 5)",
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


def _add_backend_options(sp: argparse.ArgumentParser) -> None:
    g = sp.add_argument_group("where tasks run")
    g.add_argument("--backend", choices=["local", "ray"], default="local", help="local processes (default) or Ray")
    g.add_argument(
        "--ray-address", help="join this Ray cluster (HOST:PORT of `ray start --head`); default: start a local one"
    )
    g.add_argument("--workers", type=int, help="CPUs of a local Ray instance, or local worker processes")
    g.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        help="where potentials and graph networks run: auto (a CUDA GPU if torch sees one; the default), cpu or "
        "cuda (default: $BULKMOD_DEVICE, else auto)",
    )


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
    """Evaluate a trained model on a whole dataset and write a results JSON."""
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
    """Train a model (from --model or a --config file) on a whole dataset and save it."""
    from bulkmod.parallel import write_run_record
    from bulkmod.training.config_file import merge_config, read_config
    from bulkmod.training.fit import train_and_save

    config = {}
    if args.config:
        model, config = read_config(args.config)
        if args.model and args.model != model:
            raise BulkmodError(f"--model {args.model} disagrees with {args.config} (model {model}): drop one")
        args.model = model
    elif not args.model:
        raise BulkmodError("train needs --model KEY or --config FILE")
    from bulkmod.models import MODELS

    trained = args.model in MODELS and MODELS[args.model].family not in ("baseline", "zero-shot")
    defaults = {"inner_folds": 5} if trained else {}  # `train` calibrates intervals on 5 inner folds by default
    config = merge_config(merge_config(defaults, config), _model_config(args))
    with _backend(args) as backend:
        path, report = train_and_save(
            args.model, args.dataset, Path(args.out), model_config=config, cv_folds=args.cv, cv_out=args.cv_out,
            cv_from=Path(args.cv_from) if args.cv_from else None,
        )  # fmt: skip
        write_run_record(args.out, backend)
    _print_report(args.dataset, report, TRAIN_PROBLEMS_SHOWN)
    if args.cv or args.cv_from:
        _print_cv_metrics(path)
    print(f"saved model to {printable(path)}")
    return 0


def _print_cv_metrics(model_dir: Path) -> None:
    """The cross-validated errors ``train --cv`` stored in the manifest, as the table ``benchmark`` prints."""
    from bulkmod.models.safety import read_manifest

    metrics = read_manifest(model_dir)["metrics"]
    rows = [[k, _fmt(v, ".4g")] for k, v in metrics.items() if isinstance(v, (int, float))]
    _print_table(f"cross-validation ({metrics.get('cv', '')})", ["metric", "value"], rows)


def cmd_diagnose(args: argparse.Namespace) -> int:
    """Say whether predictions collapsed, are biased, clipped or ok, and why."""
    from bulkmod.evaluation.diagnose import diagnose, diagnose_to_json, read_predictions

    k_true, k_pred = read_predictions(args.predictions, log10=True if args.log10 else None)
    res = diagnose(k_true, k_pred, model_dir=args.model)
    if args.report:
        from bulkmod.reports.html import diagnosis_report

        print(f"wrote {diagnosis_report(k_true, k_pred, res, args.report)}", file=sys.stderr)
    status = 1 if args.strict and res["verdict"] != "ok" else 0
    if args.json:
        print(diagnose_to_json(res))
        return status
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
    return status


def cmd_report(args: argparse.Namespace) -> int:
    """Build one self-contained HTML report from results files."""
    from bulkmod.reports.html import build_report

    path, skipped = build_report(args.results, args.out, title=args.title)
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(f"wrote {path} and figures in {path.with_name(path.stem + '_figures')}/")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """List, validate or fetch datasets."""
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
        _print_report(ds.name, rep, args.show)
    return 1 if rep.rejected and args.strict else 0


def _print_report(name: str, rep, show: int) -> None:
    """What ``data validate`` prints: the counts, then the first ``show`` problems."""
    print(printable(f"{name}: {rep.summary()}"))
    for p in rep.problems[:show]:
        print("  " + printable(p.line()))
    if len(rep.problems) > show:
        print(f"  ... {len(rep.problems) - show} more (see them all with `bulkmod data validate DATASET --show N`)")


def cmd_models(args: argparse.Namespace) -> int:
    """List registry models and shipped models."""
    from bulkmod.models import MODELS
    from bulkmod.models.pretrained import ALIASES, list_pretrained

    _print_table(
        "registry models (train with `bulkmod train`)",
        ["key", "family", "what"],
        [[k, s.family, s.summary] for k, s in MODELS.items()],
    )
    _print_table(
        "shipped models (--model NAME)",
        ["name", "alias"],
        [[n, ", ".join(a for a, target in ALIASES.items() if target == n)] for n in list_pretrained()],
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``bulkmod`` argument parser, one subcommand per verb."""
    p = argparse.ArgumentParser(
        prog="bulkmod",
        description="Predict, diagnose and fix bulk-modulus models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"bulkmod {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str, epilog: str | None = None) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name, help=help_.replace("%", "%%"), description=help_, epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # help= is %-formatted; description and epilog are printed as written  # fmt: skip
        sp.set_defaults(func=func)
        return sp

    sp = add(
        "predict",
        cmd_predict,
        "predict K_VRH (GPa) with a 90% interval (or --level) for CIF/POSCAR/extxyz/JSON files",
        PREDICT_EPILOG,
    )
    sp.add_argument(
        "files", nargs="+", help="structure files, folders, glob patterns, multi-frame extxyz or JSON-lines files"
    )
    sp.add_argument(
        "--model",
        default="default",
        help="shipped model name, saved model directory, 'default' (every labelled chemistry; descriptors + "
        "SevenNet-MF-0 E-V fit, one scan per new crystal: benchmarks/results/predict_speed/predict_speed.md), 'fast' "
        "(descriptors only, binaries, for large screens) or 'zero-shot' (SevenNet-MF-0's own K); `bulkmod models` "
        "lists them",
    )
    sp.add_argument("--out", help="write results to X.json, or X.csv: appended batch by batch, resumable with --resume")
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
    sp.add_argument("--batch-size", type=int, default=256, help="structures per task (default 256)")
    sp.add_argument(
        "--resume", action="store_true", help="continue a killed run into the same --out CSV (no row lost or repeated)"
    )
    sp.add_argument("--overwrite", action="store_true", help="replace an existing --out file (refused otherwise)")
    sp.add_argument("--level", type=float, default=0.9, help="interval level, 0 < LEVEL < 1 (default 0.9)")
    _add_backend_options(sp)

    model_help = "registry key (see `bulkmod models`): mean, rf, lgbm, xgb, ..."
    sp = add("benchmark", cmd_benchmark, "cross-validate a model on a dataset and write a results JSON")
    sp.add_argument("--dataset", required=True, help="dataset name (`bulkmod data list`), CSV or CGCNN folder")
    sp.add_argument("--model", required=True, help=model_help)
    sp.add_argument("--split", default="kfold", choices=SPLIT_NAMES, help="train/test split (default kfold)")
    sp.add_argument("--folds", type=int, default=5, help="K for kfold/formula-grouped (default 5)")
    sp.add_argument("--limit", type=int, help="use a fixed seeded random subset of exactly N rows")
    _add_training_options(sp)
    _add_backend_options(sp)
    sp.add_argument("--out", required=True, help="results JSON; predictions CSV is written beside it")

    sp = add("tune", cmd_tune, "search tree-model hyper-parameters with nested cross-validation (Optuna)")
    sp.add_argument("--dataset", required=True, help="dataset name, CSV or CGCNN folder")
    sp.add_argument("--model", required=True, choices=["lgbm", "rf", "xgb"], help="tree model to tune")
    sp.add_argument("--out", required=True, help="folder for results.json, best_config.json and the study database")
    sp.add_argument("--trials", type=int, default=20, help="complete trials per study (default 20)")
    sp.add_argument("--timeout", type=float, help="stop asking for new trials after this many seconds per study")
    sp.add_argument("--split", default="kfold", choices=["kfold", "formula-grouped"], help="outer split")
    sp.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    sp.add_argument("--inner-cv", type=int, default=3, help="inner CV folds scoring each trial (default 3)")
    sp.add_argument("--parallel-trials", type=int, default=4, help="trials asked and run at once (default 4)")
    sp.add_argument("--limit", type=int, help="use a fixed seeded random subset of exactly N rows")
    sp.add_argument(
        "--storage", help="study database (any SQLAlchemy URL; default sqlite:///OUT/study.sqlite3): reruns resume"
    )
    _add_training_options(sp)
    _add_backend_options(sp)

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
    sp.add_argument("--model", help=model_help + " (or take it from --config)")
    sp.add_argument("--config", help="model config file (JSON/YAML), e.g. best_config.json from `bulkmod tune`")
    sp.add_argument(
        "--dataset", required=True, help="dataset name, CSV (structure file or formula + target) or CGCNN folder"
    )
    sp.add_argument("--out", required=True, help="directory to save the model in")
    sp.add_argument("--cv", type=int, default=0, help="also run K-fold CV first and store its metrics in the manifest")
    sp.add_argument("--cv-out", help="with --cv: also write the CV results JSON (and predictions CSV) here")
    sp.add_argument(
        "--cv-from", help="take the CV metrics from this results JSON of the same kfold benchmark instead of --cv"
    )
    _add_training_options(sp)
    _add_backend_options(sp)

    sp = add("diagnose", cmd_diagnose, "say whether predictions collapsed, are biased, clipped or ok, and why")
    sp.add_argument("predictions", help="CSV with y_true/y_pred columns (GPa) or y_true_log10/y_pred_log10")
    sp.add_argument("--log10", action="store_true", help="the CSV's values are log10(GPa)")
    sp.add_argument("--model", help="saved model directory: also read its manifest and training log")
    sp.add_argument("--json", action="store_true", help="machine-readable verdict, evidence, causes and fixes")
    sp.add_argument("--report", help="also write an HTML report with parity, residual and range plots")
    sp.add_argument("--strict", action="store_true", help="exit 1 unless the verdict is ok (for CI)")

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


def _note(message: Warning | str, *_: object, **__: object) -> None:
    """How the CLI shows a :class:`BulkmodWarning`: one line, like the other notes, without the source line."""
    print(f"note: {printable(message)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user error is one line on stderr and exit code 2, not a traceback."""
    with warnings.catch_warnings():
        # libraries' warnings are theirs to fix, not the user's; bulkmod's own say something the user can act on
        warnings.simplefilter("ignore")
        warnings.simplefilter("default", BulkmodWarning)
        warnings.showwarning = _note
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return args.func(args)
        except BulkmodError as exc:
            print(f"bulkmod: error: {printable(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("bulkmod: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
