"""Backends: the same results locally and on Ray, the .run.json sidecar, and joining a multi-node cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from ray import cloudpickle as ray_cloudpickle

from bulkmod.cli import main
from bulkmod.errors import BulkmodError
from bulkmod.parallel import Backend, current, run_record_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RAY = Path(sys.executable).with_name("ray")


ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import a test module


def _square(x: int) -> int:
    return x * x


def _nested(n: int) -> list[int]:
    return current().map(_square, range(n))


def test_local_map_keeps_order_and_counts_tasks():
    with Backend("local") as b:
        assert b.map(_square, [3, 1, 2]) == [9, 1, 4]
        assert list(b.imap(_square, range(5), local_workers=2, window=2)) == [0, 1, 4, 9, 16]  # spawn pool
    assert b.n_tasks == 8 and len(b.node_ids) == 1


def test_backend_options_are_checked(tmp_path):
    with pytest.raises(BulkmodError, match="unknown backend"):
        Backend("dask")
    with pytest.raises(BulkmodError, match="--ray-address needs --backend ray"):
        Backend("local", address="1.2.3.4:6379")
    with pytest.raises(BulkmodError, match="has its own"):
        Backend("ray", address="1.2.3.4:6379", workers=2)
    assert run_record_path(tmp_path / "r.json") == tmp_path / "r.run.json"
    assert run_record_path(tmp_path / "model") == tmp_path / "model.run.json"


def test_ray_tasks_nest_and_report_their_node(ray_session):
    with Backend("ray") as b:
        assert b.map(_nested, [2, 3]) == [[0, 1], [0, 1, 4]]
        assert b.ray_address == ray_session
    assert b.n_tasks == 2 + 5 and len(b.node_ids) == 1  # the nested tasks are counted too


def test_benchmark_ensemble_is_the_same_on_both_backends(ray_session, mp_small, tmp_path):
    csv = tmp_path / "small.csv"  # compositions only: loads and featurises in a blink
    pd.DataFrame({"id": mp_small.ids, "formula": mp_small.reduced_formulas, "k_vrh": mp_small.k_vrh}).to_csv(csv)
    args = ["benchmark", "--dataset", str(csv), "--model", "ensemble", "--limit", "150", "--folds", "2",
            "--param", "member=lgbm", "--param", "members=2", "--param", "n_jobs=1", "--param", "learning_rate=0.2",
            "--param", "num_iterations=60", "--seed", "4"]  # fmt: skip
    for backend in ("local", "ray"):
        assert main([*args, "--backend", backend, "--out", str(tmp_path / f"{backend}.json")]) == 0
    local, ray_ = (pd.read_csv(tmp_path / f"{b}.predictions.csv") for b in ("local", "ray"))
    pd.testing.assert_frame_equal(local, ray_)
    run = json.loads((tmp_path / "ray.run.json").read_text())
    assert run["backend"] == "ray" and run["ray_address"] == ray_session
    # folds + members, once per fold: cross-fitted members calibrate on their own inner folds, no refit round
    assert run["n_tasks"] == 2 + 2 * 2 and len(run["node_ids"]) == 1 and run["wall_s"] > 0
    assert json.loads((tmp_path / "local.run.json").read_text())["backend"] == "local"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_predict_joins_a_multi_node_head_started_with_ray_start(tmp_path):
    """The documented recipe: `ray start --head`, then `--ray-address`; the head is stopped afterwards."""
    port = _free_port()
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false",
         "--object-store-memory", str(100 * 1024**2), "--block"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 30
        while time.time() < deadline:  # the head takes a few seconds to listen
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        out = tmp_path / "k.csv"
        cmd = [sys.executable, "-m", "bulkmod.cli", "predict", str(EXAMPLES), "--out", str(out),
               "--backend", "ray", "--ray-address", f"127.0.0.1:{port}", "--batch-size", "2"]  # fmt: skip
        env = os.environ | {"RAY_AUTH_MODE": "token"}  # the head made and saved a token (Ray's default)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        run = json.loads((tmp_path / "k.run.json").read_text())
        assert run["joined_cluster"] and run["ray_address"].endswith(f":{port}")
        assert run["n_tasks"] == 3 and len(run["node_ids"]) == 1
        assert len(pd.read_csv(out)) == len(list(EXAMPLES.iterdir()))
    finally:
        head.terminate()  # `ray start --block` stops the processes it started on SIGTERM
        head.wait(timeout=60)
        _wait_group_gone(head.pid)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # the head's GCS is gone


def _wait_group_gone(pgid: int, timeout: float = 30) -> None:
    """Wait for every process of the head's own session to exit; SIGKILL that group (ours alone) if one hangs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pgid, signal.SIGKILL)
