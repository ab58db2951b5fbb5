"""`--workers N`: a score's steps sharded across N processes of the same torch thread count.

Each worker (a spawned Python process: a fresh interpreter, so the numerics profile's caps are
in its environment before its torch loads) sets the thread count, loads the nets, computes its
contiguous run of steps (`_batches.run_shard`) and sends each step's partial results back as
plain values: the float32 sums as their exact values, the per-pair distortions, and, for a
ground truth being cached, its outputs' bytes. The parent adds the partials in the official
order, so the figures are those of one process to the last bit.

This module imports no torch: a spawned worker reads it before its caps are checked.
"""

from __future__ import annotations

import multiprocessing
import sys
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from vcc.base import BadInput, HarnessError, VccError

from ._batches import BatchResult, ShardSpec

__all__ = ["run_workers", "worker_main"]

_SEED = 1234  # the official seed; the forward pass draws no random numbers


def worker_main(conn: Connection, spec: ShardSpec) -> None:
    """A worker process: compute the shard, send ("batch", result)..., then ("done", peak RSS)."""
    try:
        from vcc.base import apply_profile, get_profile

        from ._memory import limit_heap_retention

        apply_profile(get_profile(spec.numerics))  # inherited from the parent; refuses if not in force
        limit_heap_retention()
        import torch

        from ._batches import run_shard
        from ._nets import load_nets

        torch.set_num_threads(spec.threads)  # the parent's resolved count: a worker starts at torch's default
        torch.manual_seed(_SEED)
        nets = load_nets(spec.models_dir, spec.device)
        for result in run_shard(spec, nets):
            conn.send(("batch", result.portable()))
        conn.send(("done", {"peak_rss_bytes": peak_rss_bytes(), "threads": torch.get_num_threads()}))
    except BaseException as exc:  # every failure goes back to the parent
        vcc_error = isinstance(exc, VccError)
        try:
            conn.send(("error", {"vccerror": vcc_error, "kind": type(exc).__name__,
                                 "message": str(exc) if vcc_error else f"{type(exc).__name__}: {exc}",
                                 "fix": getattr(exc, "fix", None),
                                 "path": str(exc.path) if getattr(exc, "path", None) else None,
                                 "traceback": traceback.format_exc()}))
        except (OSError, ValueError):
            pass
    finally:
        conn.close()


def peak_rss_bytes() -> int | None:
    """This process's peak resident set so far (Linux reports kB, macOS bytes)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _error(info: dict[str, Any], worker: int) -> VccError:
    """The worker's error, raised again here: a VccError as it was, anything else as a harness error."""
    if info["vccerror"]:
        cls = BadInput if info["kind"] == "BadInput" else HarnessError
        return cls(info["message"], path=info.get("path"), fix=info.get("fix"))
    return HarnessError(f"scoring worker {worker} failed: {info['message']}\n{info['traceback'].rstrip()}")


def run_workers(shards: list[ShardSpec], stats: list[dict[str, Any]]) -> Iterator[BatchResult]:
    """Run one worker per shard; yield their results as they arrive (not in order).

    `stats` receives each worker's closing figures (peak RSS, threads). A worker's failure
    stops the others and raises its error here.
    """
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    conns: dict[Connection, int] = {}
    try:
        for k, shard in enumerate(shards):
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=worker_main, args=(child, shard), name=f"vcc-score-worker-{k}", daemon=True)
            proc.start()
            child.close()  # the parent's copy: EOF reaches it when the worker exits
            procs.append(proc)
            conns[parent] = k
        while conns:
            for conn in wait(list(conns)):
                k = conns[conn]  # type: ignore[index]
                try:
                    kind, value = conn.recv()  # type: ignore[union-attr]
                except EOFError:
                    procs[k].join()
                    raise HarnessError(f"scoring worker {k} exited without finishing (exit code "
                                       f"{procs[k].exitcode}); it may have run out of memory",
                                       fix="rerun with fewer --workers") from None
                if kind == "batch":
                    yield value
                elif kind == "done":
                    stats.append({"worker": k, **value})
                    del conns[conn]  # type: ignore[arg-type]
                    conn.close()  # type: ignore[union-attr]
                else:
                    raise _error(value, k)
        for proc in procs:
            proc.join()
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
