"""The original project's own recommendations, run as written (issue 19): the pretrained MEGNet, used and fine-tuned.

    python benchmarks/original_recipes.py [--only NAME ...] [--force]

The original MEGNet bulk-modulus models (``megnet-pretrained``, torch port of megnet 1.3.2's Keras weights,
parity in ``benchmarks/results/megnet_parity/``) scored zero-shot on the splits every other model here is scored
on, and fine-tuned from the 2019 model (``megnet --param pretrained=mp-2019.4.1``: the same network and graphs,
trained on each fold's training part like every graph model here, 30 epochs as in ``gnn_ablation``'s table). They
trained on Materials Project elasticity data (mp-2019.4.1: 12,179 crystals; mp-2018.6.1: 5,830), so on MP
crystals these numbers measure memory, not skill; every results JSON carries that note. Each run writes
``benchmarks/results/original_recipes/<name>.json`` (bulkmod-results/1) and its predictions CSV; a run whose JSON
exists is skipped; ``original_recipes.md`` is rebuilt from the JSON files.
"""

from __future__ import annotations

from pathlib import Path

from bulkmod.evaluation.benchmark import run_named
from bulkmod.reports.tables import results_table

RESULTS = Path(__file__).resolve().parent / "results" / "original_recipes"
RUNS: dict[str, dict] = {
    f"mp-binary-2025_megnet-pretrained-{version}_{split}": {
        "dataset": "mp-binary-2025", "model": "megnet-pretrained", "split": split,
        "model_config": {"params": {"version": version}},
    }
    for version in ("mp-2019.4.1", "mp-2018.6.1")
    for split in ("kfold", "ood-elastic2015")
} | {
    f"mp-binary-2025_megnet-finetuned-mp-2019.4.1_ep30_{split}": {
        "dataset": "mp-binary-2025", "model": "megnet", "split": split,
        "model_config": {"epochs": 30, "loss": "huber", "params": {"pretrained": "mp-2019.4.1"}},
    }
    for split in ("kfold", "ood-elastic2015")
}  # fmt: skip


def summary(done: list[dict]) -> str:
    notes = sorted({r["note"] for r in done if r.get("note")})
    return "\n".join([
        "# The original project's recommendations, measured\n",
        "Made by `python benchmarks/original_recipes.py`; one JSON (command, commit, machine, load) per run beside "
        "this file. MAE in log10; rows a model refused (no bond within its cut-off) are not scored.\n",
        *[f"> {n}\n" for n in notes],
        results_table(done),
    ]) + "\n"  # fmt: skip


if __name__ == "__main__":
    done = run_named(RUNS, RESULTS, __doc__)
    (RESULTS / "original_recipes.md").write_text(summary(done))
