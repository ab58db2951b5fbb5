"""Where a sweep's points run: a local process pool, or a Ray cluster (`--ray ADDRESS`, `--ray local`).

Both run the same function (runner._sweep_point.run_point) on the same PointTask and hand back its
record; neither knows what a point does. Each engine is a context manager (started before the
sweep writes anything, so an unreachable cluster stops it with nothing started) whose `run(tasks)`
yields records as points finish.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from vcc.base import HarnessError, cores

from ._sweep_point import PointTask, run_point

__all__ = ["Engine", "LocalPool", "RayEngine", "parallel_points", "make_engine"]

# `--ray local`: a small private instance (the tests use it): two CPUs, no dashboard, a small object store.
_LOCAL_RAY_CPUS = 2
_LOCAL_OBJECT_STORE = 100 << 20


class Engine(Protocol):
    name: str

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, tasks: list[PointTask]) -> Iterator[tuple[PointTask, dict[str, Any] | None, str | None]]:
        """(task, record, None) per finished point; (task, None, why) where the engine lost it."""
        ...


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def parallel_points(point_cpus: int, point_memory: int) -> int:
    """How many sweep points run at once by default (the local pool's size): as many as the cores and
    the memory hold, each with its runner's CPUs and cap."""
    by_cores = cores() // max(1, point_cpus)
    mem = _available_memory()
    by_memory = by_cores if mem is None else mem // max(1, point_memory)
    return max(1, min(by_cores, by_memory))


class LocalPool:
    """N worker processes on this machine (spawned, not forked: a worker may hold torch's threads)."""

    name = "local pool"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalPool:
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=exc is None, cancel_futures=True)
            self._pool = None

    def run(self, tasks: list[PointTask]) -> Iterator[tuple[PointTask, dict[str, Any] | None, str | None]]:
        assert self._pool is not None, "use the pool as a context manager"
        futures: dict[Future[dict[str, Any]], PointTask] = {self._pool.submit(run_point, t): t for t in tasks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                try:
                    yield futures[f], f.result(), None
                except Exception as e:  # the worker died (killed, out of memory): the point stays to do
                    yield futures[f], None, f"{type(e).__name__}: {e}"


def _vcc_root() -> str:
    return str(Path(__file__).resolve().parents[1])


def _check_reachable(address: str) -> None:
    """A plain TCP connect to the head's GCS port, before Ray is asked (its own retries take a minute)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"--ray {address}: not HOST:PORT", fix="use --ray HOST:6379, ray://HOST:10001, "
                           "auto or local", path=None)
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as e:
        raise HarnessError(f"--ray {address}: cannot reach the Ray cluster ({e.strerror or e})",
                           fix="start the cluster (`ray start --head`), check the address, or use --ray local") from e


class RayEngine:
    """The same tasks as Ray tasks: `local` starts a private instance, anything else joins a cluster.

    On a cluster, vcc must be installed on every node; each node fills its own ground-truth cache.
    """

    def __init__(self, address: str, threads: int, max_in_flight: int | None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as e:
            raise HarnessError("--ray needs Ray, which is not installed", fix="pip install 'vcc[ray]'") from e
        if address != "local":
            _check_reachable(address)
        self.address = address
        self.name = "ray (local instance)" if address == "local" else f"ray ({address})"
        self.threads = threads
        self.max_in_flight = max_in_flight

    def __enter__(self) -> RayEngine:
        import ray

        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if self.address == "local":
            path = os.pathsep.join([_vcc_root(), *filter(None, [os.environ.get("PYTHONPATH")])])
            kwargs.update(num_cpus=_LOCAL_RAY_CPUS, object_store_memory=_LOCAL_OBJECT_STORE,
                          runtime_env={"env_vars": {"PYTHONPATH": path}})
        else:
            kwargs["address"] = self.address
            kwargs.pop("include_dashboard")
        try:
            ray.init(**kwargs)
        except Exception as e:  # ConnectionError, RuntimeError: Ray's words name the cause
            raise HarnessError(f"--ray {self.address}: Ray did not start: {e}",
                               fix="check the cluster, or use --ray local") from e
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.shutdown()

    def run(self, tasks: list[PointTask]) -> Iterator[tuple[PointTask, dict[str, Any] | None, str | None]]:
        import ray

        cpus = self.threads if self.address != "local" else min(self.threads, _LOCAL_RAY_CPUS)
        remote = ray.remote(num_cpus=cpus, max_retries=0)(run_point)
        queue = list(tasks)
        refs: dict[Any, PointTask] = {}
        limit = self.max_in_flight or len(tasks)
        while queue or refs:
            while queue and len(refs) < limit:
                t = queue.pop(0)
                refs[remote.remote(t)] = t
            done, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(done[0])
            try:
                yield task, ray.get(done[0]), None
            except Exception as e:  # the task's worker died: the point stays to do
                yield task, None, f"{type(e).__name__}: {e}"


def make_engine(ray_address: str | None, workers: int | None, threads: int, default_pool: int) -> Engine:
    """The engine the command line asks for; Ray's address is checked here, before anything starts."""
    if ray_address is not None:
        return RayEngine(ray_address, threads, workers)
    return LocalPool(workers or default_pool)

