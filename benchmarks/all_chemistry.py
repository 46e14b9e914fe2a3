"""Models that learn from every labelled crystal (issue 17): mp-kvrh-all and matbench with recovered structures.

    python benchmarks/all_chemistry.py [--only NAME ...] [--force]

Every run writes ``benchmarks/results/all_chemistry/<name>.json`` (bulkmod-results/1) and its predictions CSV
(with ``has_structure``, ``n_elements`` and ``source`` columns); a run whose JSON exists is skipped, so a killed
session loses at most the run in progress. ``all_chemistry.md`` is rebuilt from whatever JSON files exist:
the headline table, errors and 90 % coverage per number of elements, per structure present or not and per label
source, coverage and width per fold, and for matbench the per-sample comparison with the leaderboard on all
rows and on the rows with a recovered structure.

Settings fixed before any run: LightGBM with a Huber loss of width 0.15 (standardised log10 units: the width
chosen on matbench's inner data, ``exploration/matbench_neighbours.py``; matbench rows are 91 % of
mp-kvrh-all) and 5 inner folds for early stopping and conformal calibration. Whether the stacked
composition + space-group feature is used is chosen per outer fold on those inner folds (``stack=auto``).
"""

from __future__ import annotations

from pathlib import Path

from bulkmod.evaluation.benchmark import run_named
from bulkmod.models.umlip import HYBRID_FEATURES
from bulkmod.reports.tables import group_tables, results_table

RESULTS = Path(__file__).resolve().parent / "results" / "all_chemistry"
HUBER = {"objective": "huber", "alpha": 0.15}
JOINED = {"inner_folds": 5, "params": HUBER | {"stack": "auto"}}
ROUTED = {"inner_folds": 5, "params": HUBER}  # no stack: nothing to stack (composition only) or the pre-join pair
ROUTED_STACK = {"inner_folds": 5, "params": HUBER | {"stack": "auto"}}
# the structure member also sees CHGNet's E-V fit (the features of umlip-hybrid)
ROUTED_UMLIP = ROUTED_STACK | {"features": HYBRID_FEATURES}
# the same on SevenNet-MF-0's E-V fit, the best potential of benchmarks/results/physics_prior (issue 18 item 2)
ROUTED_SEVENNET = ROUTED_STACK | {"features": HYBRID_FEATURES | {"potential": "sevennet-mf-0"}}
# and told how hard a strain pushes each crystal's ions, where MF-0's clamped K is too stiff (umlip-ions)
ROUTED_IONS = ROUTED_STACK | {
    "features": ROUTED_SEVENNET["features"] | {"groups": [*HYBRID_FEATURES["groups"], "umlip-ions"]}
}
# and given the clamped K less the ions' harmonic softening (umlip-relaxed)
ROUTED_RELAXED = ROUTED_STACK | {
    "features": ROUTED_SEVENNET["features"] | {"groups": [*HYBRID_FEATURES["groups"], "umlip-ions", "umlip-relaxed"]}
}


def run(dataset: str, model: str, split: str, config: dict) -> dict:
    return {"dataset": dataset, "model": model, "split": split, "model_config": config}


RUNS: dict[str, dict] = {
    # one LightGBM on every row, structure features NaN where a row has none
    "mp-kvrh-all_lgbm_kfold": run("mp-kvrh-all", "lgbm", "kfold", JOINED),
    # + CHGNet's E-V fit where a structure exists (the shipped default's recipe; its own `train --cv` made this
    # file: the same folds and config, see the command inside)
    "mp-kvrh-all_umlip-blend_kfold": run("mp-kvrh-all", "umlip-blend", "kfold", JOINED),
    # the pre-join product on the same folds: structure rows -> structure model, others -> composition model
    "mp-kvrh-all_structure-routed_kfold": run("mp-kvrh-all", "structure-routed", "kfold", ROUTED),
    # the same pair, the structure model also reading the composition model's out-of-fold prediction
    "mp-kvrh-all_structure-routed-stack_kfold": run("mp-kvrh-all", "structure-routed", "kfold", ROUTED_STACK),
    "mp-kvrh-all_structure-routed-umlip_kfold": run("mp-kvrh-all", "structure-routed", "kfold", ROUTED_UMLIP),
    "mp-kvrh-all_structure-routed-stack_chemsys-grouped": run(
        "mp-kvrh-all", "structure-routed", "chemsys-grouped", ROUTED_STACK
    ),
    "mp-kvrh-all_structure-routed-stack_ood-elastic2015": run(
        "mp-kvrh-all", "structure-routed", "ood-elastic2015", ROUTED_STACK
    ),
    "mp-kvrh-all_structure-routed-umlip_ood-elastic2015": run(
        "mp-kvrh-all", "structure-routed", "ood-elastic2015", ROUTED_UMLIP
    ),
    "mp-kvrh-all_structure-routed-sevennet-mf-0_kfold": run(
        "mp-kvrh-all", "structure-routed", "kfold", ROUTED_SEVENNET
    ),
    "mp-kvrh-all_structure-routed-sevennet-mf-0_ood-elastic2015": run(
        "mp-kvrh-all", "structure-routed", "ood-elastic2015", ROUTED_SEVENNET
    ),
    "mp-kvrh-all_structure-routed-sevennet-mf-0-ions_kfold": run(
        "mp-kvrh-all", "structure-routed", "kfold", ROUTED_IONS
    ),
    "mp-kvrh-all_structure-routed-sevennet-mf-0-ions_ood-elastic2015": run(
        "mp-kvrh-all", "structure-routed", "ood-elastic2015", ROUTED_IONS
    ),
    "mp-kvrh-all_structure-routed-sevennet-mf-0-relaxed_kfold": run(
        "mp-kvrh-all", "structure-routed", "kfold", ROUTED_RELAXED
    ),
    "mp-kvrh-all_structure-routed-sevennet-mf-0-relaxed_ood-elastic2015": run(
        "mp-kvrh-all", "structure-routed", "ood-elastic2015", ROUTED_RELAXED
    ),
    "mp-kvrh-all_lgbm_chemsys-grouped": run("mp-kvrh-all", "lgbm", "chemsys-grouped", JOINED),
    "mp-kvrh-all_lgbm_ood-elastic2015": run("mp-kvrh-all", "lgbm", "ood-elastic2015", JOINED),
    "mp-kvrh-all_umlip-blend_ood-elastic2015": run("mp-kvrh-all", "umlip-blend", "ood-elastic2015", JOINED),
    # matbench targets only; the structures the join recovered (unique matches) as extra features
    "matbench-log-kvrh-recovered_lgbm_official": run(
        "matbench-log-kvrh-recovered", "lgbm", "matbench-official", JOINED
    ),
    "matbench-log-kvrh-recovered_structure-routed-stack_official": run(
        "matbench-log-kvrh-recovered", "structure-routed", "matbench-official", ROUTED_STACK
    ),
    # the same settings from composition and space group alone: what the recovered structures add
    "matbench-log-kvrh-comp_lgbm_official": run("matbench-log-kvrh-comp", "lgbm", "matbench-official", ROUTED),
}


def summary(done: list[dict]) -> str:
    parts = [
        "# Learning from every labelled crystal\n",
        "Made by `python benchmarks/all_chemistry.py`; one JSON (command, commit, machine, load) per run beside "
        "this file. MAE in log10; coverage of the 90 % interval.\n",
        results_table(done),
    ]
    for r in done:
        parts += [f"\n## {r['label']}\n", f"`{r['command']}` (train: {r['train_dataset']}, {r['n']} test rows)\n"]
        if "n_train_removed_by_formula" in r:
            parts.append(f"Training rows removed because their reduced formula is a test crystal's: "
                         f"{r['n_train_removed_by_formula']}.\n")  # fmt: skip
        parts.append(group_tables(r))
    return "\n".join(parts) + "\n"


def main() -> None:
    (RESULTS / "all_chemistry.md").write_text(summary(run_named(RUNS, RESULTS, __doc__)))


if __name__ == "__main__":
    main()
