"""Shared fixtures: small real data from ../shared/data and a private feature cache per test session."""

from __future__ import annotations

import os
import signal
import tempfile
import time

import numpy as np
import pytest

os.environ.setdefault("BULKMOD_CACHE", tempfile.mkdtemp(prefix="bulkmod-test-cache-"))

SUMMARY: dict[str, str] = {}  # tests put counts here that belong in the test output (e.g. the fuzz outcome)


@pytest.fixture(scope="session")
def summary() -> dict[str, str]:
    return SUMMARY


def pytest_terminal_summary(terminalreporter):
    for title, text in SUMMARY.items():
        terminalreporter.write_line(f"{title}: {text}")


@pytest.fixture(scope="session")
def mp_binary():
    from bulkmod.data import load_dataset

    return load_dataset("mp-binary-2025")


@pytest.fixture(scope="session")
def mp_small(mp_binary):
    """300 real crystals, a fixed seeded subset."""
    from bulkmod.evaluation.benchmark import limit_rows

    return limit_rows(mp_binary, 300)


@pytest.fixture(scope="session")
def ray_session():
    """One small local Ray instance shared by every test that needs Ray (it takes seconds to start).

    Tests run ``with Backend("ray")`` inside it: the backend joins the running instance and leaves it up.
    """
    import ray

    from bulkmod.parallel import OBJECT_STORE_MB

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=OBJECT_STORE_MB * 1024**2)  # fmt: skip
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def mp_split(mp_small):
    """(train, test): the first 240 and the last 60 crystals of ``mp_small``."""
    return mp_small.subset(range(240)), mp_small.subset(range(240, 300))


@pytest.fixture(scope="session")
def sigkill_when():
    """``kill(proc, progress, at_least, timeout, poll)``: SIGKILL a subprocess once ``progress()`` reaches
    ``at_least`` (or it exits, or time runs out) and return the progress it had reached when it died."""

    def kill(proc, progress, at_least: int, timeout: float, poll: float = 0.05) -> int:
        deadline = time.time() + timeout
        while progress() < at_least and time.time() < deadline and proc.poll() is None:
            time.sleep(poll)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return progress()

    return kill


@pytest.fixture
def check_scale_provider():
    """Checks that a fitted model is a ScaleProvider whose σ(x) is the one its normalised 90 % interval uses."""

    def check(model, ds) -> None:
        from bulkmod.uncertainty import ScaleProvider

        assert isinstance(model, ScaleProvider) and model.scale_name
        pred, sigma, c = model.predict(ds), model.scale(ds), model.conformal
        assert c.normalized
        half = (pred.hi90_log10 - pred.lo90_log10) / 2
        np.testing.assert_allclose(half, c.q90 * sigma**c.power, rtol=1e-9)

    return check
