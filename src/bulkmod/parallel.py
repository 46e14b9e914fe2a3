"""Where tasks run: in this process, a local spawn pool, or a Ray cluster.

One ``Backend`` serves every scaled-out verb (benchmark folds, ensemble members, tuning trials, prediction
batches), so switching engines is a flag, not a second code path. Tasks are plain module-level functions
of one argument; results come back in input order, so the same seeds give the same results on both engines.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bulkmod.errors import BulkmodError
from bulkmod.io import write_json_atomic
from bulkmod.optional import require
from bulkmod.provenance import command_line, git_commit, machine

BACKENDS = ("local", "ray")
RUN_FORMAT = "bulkmod-run/1"
OBJECT_STORE_MB = 200  # a local Ray instance shares the machine: keep its object store small
_ACTIVE: list[Backend] = []
_SHARED: dict[str, Any] = {}


class Backend:
    """``map``/``imap`` over tasks on ``local`` (in-process, or a spawn pool) or ``ray``.

    Use it as a context manager: a ``ray`` backend joins ``address`` or starts a local instance with
    ``workers`` CPUs, and shuts Ray down on exit only if it started it. While entered it is the backend that
    nested maps (e.g. ensemble members inside a benchmark fold) pick up through :func:`current`.
    """

    def __init__(self, kind: str = "local", *, address: str | None = None, workers: int | None = None) -> None:
        if kind not in BACKENDS:
            raise BulkmodError(f"unknown backend {kind!r}: use {' or '.join(BACKENDS)}")
        if address and kind != "ray":
            raise BulkmodError("--ray-address needs --backend ray")
        if workers is not None and workers < 1:
            raise BulkmodError(f"--workers {workers}: need at least 1")
        if address and workers:
            raise BulkmodError("--workers sizes a local Ray instance; a cluster joined with --ray-address has its own")
        self.kind, self.address, self.workers = kind, address, workers
        self.n_tasks = 0
        self.node_ids: set[str] = set()
        self.ray_address: str | None = None
        self._started = False
        self._t0 = time.perf_counter()

    def __enter__(self) -> Backend:
        self._t0 = time.perf_counter()
        if self.kind == "ray":
            require("ray")
            self._start_ray()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def _start_ray(self) -> None:
        import logging

        import ray

        if not ray.is_initialized():
            opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
            if self.address:
                opts["address"] = self.address
            else:  # a bounded local instance: never a surprise join via RAY_ADDRESS
                opts |= {"address": "local", "num_cpus": self.workers or os.cpu_count() or 1,
                         "object_store_memory": OBJECT_STORE_MB * 1024**2}  # fmt: skip
            try:
                ray.init(**opts)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                hint = "; a cluster with token auth (Ray's default) needs RAY_AUTH_MODE=token" if self.address else ""
                raise BulkmodError(f"could not start or join Ray ({str(exc).splitlines()[0][:200]}){hint}") from None
            self._started = True
        self.ray_address = ray.get_runtime_context().gcs_address

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self._t0

    def capacity(self) -> int:
        """How many tasks can run at once: the cluster's CPUs on Ray, the pool size locally."""
        if self.kind == "ray":
            import ray

            return max(1, int(ray.cluster_resources().get("CPU", 1)))
        return self.workers or 1

    def share(self, obj: Any) -> Shared:
        """Wrap a large read-only object (a model) so each worker receives it once, not with every task."""
        if self.kind == "ray":
            import ray

            return Shared(None, ray.put(obj))
        return Shared(obj)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, local_workers: int | None = None) -> list[Any]:
        return list(self.imap(fn, items, local_workers=local_workers))

    def imap(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        local_workers: int | None = None,
        window: int | None = None,
    ) -> Iterator[Any]:
        """``fn(item)`` for each item, yielded in input order with at most ``window`` tasks in flight.

        The window bounds memory over an endless stream; by default it is unbounded (all tasks submitted).
        ``local_workers`` sizes the spawn pool of the local backend (1 = this process); Ray ignores it.
        """
        if self.kind == "ray":
            return self._windowed(self._ray_submit(fn), items, window)
        workers = local_workers or self.workers or 1
        if workers == 1:
            return self._in_process(fn, items)
        return self._pooled(fn, items, workers, window)

    def _in_process(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        node = f"local:{platform.node()}"
        for item in items:
            self.n_tasks += 1
            self.node_ids.add(node)
            yield fn(item)

    def _pooled(
        self, fn: Callable[[Any], Any], items: Iterable[Any], workers: int, window: int | None
    ) -> Iterator[Any]:
        # spawn, not fork: forking after LightGBM/torch started their OpenMP threads can deadlock
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield from self._windowed(lambda item: pool.submit(_tracked, fn, item), items, window)

    def _ray_submit(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        import ray

        task = ray.remote(num_cpus=1)(_tracked)
        return lambda item: task.remote(fn, item)

    def _windowed(self, submit: Callable[[Any], Any], items: Iterable[Any], window: int | None) -> Iterator[Any]:
        pending: deque = deque()
        for item in items:
            pending.append(submit(item))
            if window and len(pending) >= window:
                yield self._collect(pending.popleft())
        while pending:
            yield self._collect(pending.popleft())

    def _collect(self, handle: Any) -> Any:
        if isinstance(handle, Future):
            node, n_nested, nested_nodes, result = handle.result()
        else:
            import ray

            try:
                node, n_nested, nested_nodes, result = ray.get(handle)
            except ray.exceptions.RayTaskError as exc:  # re-raise the task's own error: one line for a user error
                raise (exc.cause if exc.cause is not None else exc) from None
        self.n_tasks += 1 + n_nested
        self.node_ids |= {node, *nested_nodes}
        return result

    def record(self, **extra: Any) -> dict[str, Any]:
        """What a ``.run.json`` sidecar says about this run."""
        return {
            "format": RUN_FORMAT,
            "backend": self.kind,
            "ray_address": self.ray_address,
            "joined_cluster": bool(self.address),
            "workers": self.workers,
            "n_tasks": self.n_tasks,
            "node_ids": sorted(self.node_ids),
            "wall_s": round(self.wall_s, 2),
            "command": command_line(),
            "commit": git_commit(),
            "machine": machine(),
            **extra,
        }


class Shared:
    """A read-only object that tasks fetch with ``get()``; through Ray it is fetched once per worker process."""

    def __init__(self, obj: Any, ref: Any = None) -> None:
        self.key = uuid.uuid4().hex
        self._obj, self._ref = obj, ref

    def get(self) -> Any:
        if self._ref is None:
            return self._obj
        if self.key not in _SHARED:
            import ray

            _SHARED.clear()  # one shared object per run: keep memory bounded across runs in a long-lived worker
            _SHARED[self.key] = ray.get(self._ref)
        return _SHARED[self.key]


def _tracked(fn: Callable[[Any], Any], item: Any) -> tuple[str, int, list[str], Any]:
    """Run one task where it landed; report the node and any tasks it started (e.g. ensemble members)."""
    if _in_ray_worker():
        import ray

        node = ray.get_runtime_context().get_node_id()
        nested = Backend("ray")  # Ray is already up inside a worker: entering starts nothing
    else:
        node = f"local:{platform.node()}"
        nested = Backend("local")
    with nested:
        result = fn(item)
    return node, nested.n_tasks, sorted(nested.node_ids), result


def _in_ray_worker() -> bool:
    ray = sys.modules.get("ray")  # a Ray worker has imported it; a spawn-pool worker need not pay the import
    return ray is not None and ray.is_initialized()


def current() -> Backend:
    """The backend of the enclosing run, or an in-process local one."""
    return _ACTIVE[-1] if _ACTIVE else Backend("local")


def run_record_path(out: Path | str) -> Path:
    """``r.json`` -> ``r.run.json``; a directory ``models/mine`` -> ``models/mine.run.json``."""
    out = Path(out)
    stem = out.name if out.is_dir() or not out.suffix else out.stem
    return out.with_name(stem + ".run.json")


def write_run_record(out: Path | str, backend: Backend, **extra: Any) -> Path:
    """Write the ``.run.json`` sidecar (how the run was parallelised) beside ``out``; return its path."""
    path = run_record_path(out)
    write_json_atomic(path, backend.record(**extra))
    return path
