"""Shared fixtures: small real data from ../shared/data and a private feature cache per test session."""

from __future__ import annotations

import os
import tempfile

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
