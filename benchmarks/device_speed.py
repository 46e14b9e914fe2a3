"""The same torch work on every device torch can see (issue 18 item 4): the E–V scans and graph training.

    python benchmarks/device_speed.py [--n 96] [--train 500] [--repeats 3]

For each device (``cpu``, and ``cuda`` where torch sees a GPU, chosen through ``BULKMOD_DEVICE`` as a user would
with ``--device``) it times, side by side in one run:
- the clamped E–V scan of ``--n`` crystals of mp-binary-2025 by each potential (SevenNet-MF-0, the default
  model's prior, first; CHGNet, the previous default's), no cache, s/crystal;
- one epoch of ``cgcnn`` training on ``--train`` crystals, s/epoch (graphs built before the clock starts).
Each is the median of ``--repeats``. The device's name (the GPU model) is recorded with the numbers, so a run on
a lent GPU and one on this CPU are never mixed up. Writes ``benchmarks/results/device_speed/device_speed.json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from bulkmod.data import load_dataset
from bulkmod.device import ENV
from bulkmod.evaluation.benchmark import limit_rows
from bulkmod.io import write_json_atomic, write_text_atomic
from bulkmod.models import build_model
from bulkmod.physics.eos import ScanConfig, scan_eos
from bulkmod.physics.potentials import get_potential
from bulkmod.provenance import command_line, git_commit, load_average, machine

RESULTS = Path(__file__).resolve().parent / "results" / "device_speed"
POTENTIALS = ("sevennet-mf-0", "chgnet", "sevennet", "sevennet-l3i5")  # the default's first


def _median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def device_name(device: str) -> str:
    return torch.cuda.get_device_name(0) if device == "cuda" else machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96, help="crystals scanned")
    parser.add_argument("--train", type=int, default=500, help="crystals in the training epoch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ds = load_dataset("mp-binary-2025")
    scanned = limit_rows(ds, args.n).structures
    train = limit_rows(ds, args.train)
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    rows = []
    for device in devices:
        os.environ[ENV] = device
        scans = {}
        for name in POTENTIALS:
            pot = get_potential(name)
            pot.energies(scanned[:1])  # weights on the device and warm before the clock starts
            seconds = _median_seconds(
                lambda pot=pot: scan_eos(scanned, pot, ScanConfig(), progress=False), args.repeats
            )
            scans[f"scan_s_per_crystal_{name}"] = round(seconds / len(scanned), 4)
        model = build_model("cgcnn", epochs=1, seed=0)
        model.fit(train, train.y_log10)  # builds and caches the graphs, and warms the device
        epoch = _median_seconds(lambda model=model: model.fit(train, train.y_log10), args.repeats)
        rows.append({
            "device": device, "device_name": device_name(device), **scans, "cgcnn_epoch_s": round(epoch, 3),
            "torch_threads": torch.get_num_threads(),
        })  # fmt: skip
    res = {
        "n_scanned": len(scanned), "n_train": len(train), "repeats": args.repeats, "rows": rows,
        "note": "cgcnn_epoch_s includes the 10 % validation pass and building the model; graphs come from the cache",
        "command": command_line(), "commit": git_commit(), "machine": machine(), "load_avg_end": load_average(),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / "device_speed.json", res)
    lines = [
        "# The same torch work on each device\n",
        f"Made by `{res['command']}` at {res['commit']} on {res['machine']}, load {res['load_avg_end']}; median of "
        f"{args.repeats}. Scan: the clamped E–V scan of {len(scanned)} crystals, no cache, by each potential. "
        f"Epoch: one cgcnn epoch on "
        f"{len(train)} crystals ({res['note']}).\n",
        f"| device | name | {' | '.join(f'{p} scan s/crystal' for p in POTENTIALS)} | cgcnn s/epoch | torch threads |",
        "|---|---|" + "---|" * len(POTENTIALS) + "---|---|",
        *(f"| {r['device']} | {r['device_name']} | "
          f"{' | '.join(str(r[f'scan_s_per_crystal_{p}']) for p in POTENTIALS)} | {r['cgcnn_epoch_s']} | "
          f"{r['torch_threads']} |" for r in rows),
    ]  # fmt: skip
    if len(rows) == 1:
        lines.append("\nOnly the CPU was visible to torch in this run; rerun on a machine with a GPU for the cuda row.")
    write_text_atomic(RESULTS / "device_speed.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
