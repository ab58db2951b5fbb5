"""`vcc sweep`: every point of a SPEC compressed, replayed with `vcc run`, tabulated and plotted.

load the SPEC (runner._sweep_spec) -> start the engine (runner._sweep_engines; an unreachable Ray
cluster stops here) -> hash the inputs, skip the points already done -> run one point alone, which
fills the ground-truth cache -> fan the rest out -> the table, the Pareto front, the plot
(runner._sweep_table).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import BadInput, Progress, write_json_atomic

from ._sweep_engines import Engine, make_engine, parallel_points
from ._sweep_point import PointTask, challenge_hashes, code_hashes, point_inputs, read_point
from ._sweep_spec import SweepSpec
from ._sweep_table import PLOT_PNG, SWEEP_RECORD, build_table, plot_sweep, write_table

__all__ = ["SWEEP_SCHEMA", "SweepOptions", "SweepOutcome", "run_sweep", "sweep_threads"]

SWEEP_SCHEMA = 1


@dataclass
class SweepOptions:
    out_dir: Path
    workers: int | None = None  # None: from the cores and memory (pool); unbounded (Ray)
    ray: str | None = None  # a Ray address, `auto`, or `local`
    progress: bool = True
    retry_failed: bool = False  # rerun points whose record is a failure (a timeout may pass next time)


@dataclass
class SweepOutcome:
    out_dir: Path
    engine: str
    workers: int | None
    threads: int
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)  # points the engine lost (a worker died): still to do
    table: Any = None  # pandas.DataFrame
    files: list[Path] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when a point has a score (failed points are results too); 3 when none has."""
        if self.lost:
            return 4
        scored = self.table is not None and bool(self.table["verdict"].eq("ok").any())
        return 0 if scored else 3


def sweep_threads(spec: SweepSpec, opts: SweepOptions) -> int:
    """Torch threads per point: the SPEC's [run] threads, else what `vcc run` takes (the runner's CPUs,
    capped at this machine's cores; on a Ray cluster the runner's CPUs), so a point scores as `vcc run`
    would score its archive and a sweep resumed with another --workers keeps its points. CPU scores
    depend on it in the last bits; set [run] threads = cores / workers to not oversubscribe."""
    if "threads" in spec.run:
        return int(spec.run["threads"])
    cfg = spec.run_config(spec.path.parent, spec.path.parent, threads=None, cache_dir=None)
    if opts.ray is not None and opts.ray != "local":
        cpus = cfg.cpus or cfg.shape.cpus
        return cfg.options.resolved(default_threads=cpus, cores=cpus).threads or cpus
    return cfg.scoring_options("cpu", "pyav").threads or 1  # `vcc run`'s resolution (the device leaves threads be)


def _pool_default(spec: SweepSpec) -> int:
    cfg = spec.run_config(spec.path.parent, spec.path.parent, threads=1, cache_dir=None)
    return parallel_points(cfg.cpus or cfg.shape.cpus, cfg.memory_bytes or cfg.shape.memory_bytes)


def run_sweep(spec: SweepSpec, opts: SweepOptions) -> SweepOutcome:
    """Run (or continue) the sweep into opts.out_dir; bad input and an unreachable cluster raise
    before anything is written."""
    if opts.workers is not None and opts.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {opts.workers}", fix="use --workers 2")
    started = time.perf_counter()
    pool_workers = opts.workers or _pool_default(spec)
    threads = sweep_threads(spec, opts)
    engine = make_engine(opts.ray, opts.workers, threads, pool_workers)
    _check_out(Path(opts.out_dir), spec)
    with engine:  # started (Ray joined) before anything is written: a failure leaves nothing behind
        out = _make_out(Path(opts.out_dir))
        outcome = SweepOutcome(out, engine.name, opts.workers if opts.ray else pool_workers, threads)
        records: dict[str, dict[str, Any]] = {}
        tasks = _pending(spec, opts, out, threads, records, outcome)
        _write_record(out, spec, outcome, "running")
        progress = _point_progress(len(spec.points), len(outcome.skipped), opts.progress)
        try:
            _run_points(engine, tasks, records, outcome, progress, scoring=spec.run.get("score", True))
        finally:
            progress.close()
    outcome.table = build_table(spec.parameters, [p.point_id for p in spec.points], records)
    outcome.files = write_table(outcome.table, out)
    title = (f"vcc sweep {spec.path.name}: {len(spec.points)} points over {spec.challenge_dir.name} "
             f"({spec.runner} runner)")
    outcome.files.append(plot_sweep(outcome.table, spec.parameters, out / PLOT_PNG, title))
    outcome.wall_s = time.perf_counter() - started
    _write_record(out, spec, outcome, "done" if not outcome.lost else "incomplete")
    return outcome


def _run_points(engine: Engine, tasks: list[PointTask], records: dict[str, dict[str, Any]], outcome: SweepOutcome,
                progress: Progress, scoring: bool) -> None:
    """Points one at a time until one is scored (it fills the ground-truth cache, which every other
    point then reads), then the rest all at once."""
    queue = list(tasks)
    while queue:
        warm = scoring and not any(r.get("verdict") == "ok" for r in records.values())
        batch = [queue.pop(0)] if warm and len(queue) > 1 else [queue.pop(0) for _ in range(len(queue))]
        for task, record, lost in engine.run(batch):
            pid = task.point.point_id
            if record is None:
                outcome.lost[pid] = lost or "lost"
            else:
                records[pid] = record
                outcome.ran.append(pid)
            progress.update(1, _point_note(task, record, lost))


def _pending(spec: SweepSpec, opts: SweepOptions, out: Path, threads: int, records: dict[str, dict[str, Any]],
             outcome: SweepOutcome) -> list[PointTask]:
    """The points still to do; a point whose record holds the same inputs' hash is done (`records`)."""
    code, challenge = code_hashes(spec.submission_dir), challenge_hashes(spec)
    tasks = []
    for point in spec.points:
        inputs, digest = point_inputs(spec, point, code, challenge, threads)
        pdir = out / "points" / point.point_id
        done = read_point(pdir)
        if done is not None and done.get("inputs_sha256") == digest and not (
                opts.retry_failed and done["verdict"] != "ok"):
            records[point.point_id] = done
            outcome.skipped.append(point.point_id)
        else:
            tasks.append(PointTask(spec, point, pdir, inputs, digest, threads, spec.cache_dir))
    return tasks


def _check_out(out: Path, spec: SweepSpec) -> None:
    """A new dir, or a previous sweep's (continued: its points are checked by their inputs' hashes)."""
    if out.exists() and not out.is_dir():
        raise BadInput("--out is not a directory", path=out, fix="pass a new dir or a previous sweep's --out dir")
    if out.is_dir() and any(out.iterdir()) and not (out / SWEEP_RECORD).is_file():
        raise BadInput("--out exists, is not empty and holds no sweep", path=out,
                       fix="pass a new dir or a previous sweep's --out dir")
    if out.resolve() in (spec.submission_dir, spec.challenge_dir):
        raise BadInput("--out cannot be the submission or the challenge dir", path=out, fix="pass a new dir")


def _make_out(out: Path) -> Path:
    (out / "points").mkdir(parents=True, exist_ok=True)
    return out.resolve()  # the compress command runs elsewhere (its cwd is the point's workspace)


def _write_record(out: Path, spec: SweepSpec, outcome: SweepOutcome, state: str) -> None:
    write_json_atomic(out / SWEEP_RECORD, {
        "vcc_sweep_schema": SWEEP_SCHEMA,
        "state": state,
        "spec": str(spec.path),
        "spec_digest": spec.digest(),
        "challenge_dir": str(spec.challenge_dir),
        "submission_dir": str(spec.submission_dir),
        "compress": spec.compress,
        "parameters": spec.parameters,
        "points": [p.point_id for p in spec.points],
        "run": spec.run,
        "engine": outcome.engine,
        "workers": outcome.workers,
        "threads_per_point": outcome.threads,
        "ran": outcome.ran,
        "skipped": outcome.skipped,
        "lost": outcome.lost,
        "wall_s": round(outcome.wall_s, 3),
        "files": [str(f.relative_to(out)) for f in outcome.files],
    })


def _point_progress(total: int, skipped: int, enabled: bool) -> Progress:
    """A bar over the points on a terminal; in a log (CI) one line per point, with the ETA."""
    progress = Progress(total, "sweep", "point", enabled=enabled, initial=skipped, log_lines=total)
    if progress.enabled and not progress.interactive:
        print(f"vcc sweep: {total} points, {skipped} already done", file=sys.stderr, flush=True)
    return progress


def _point_note(task: PointTask, record: dict[str, Any] | None, lost: str | None) -> str:
    """What one point ended as: `crf=35,scale=0.4: ok, score 33.170000`."""
    if record is None:
        return f"{task.point.label}: lost ({lost})"
    s = record.get("score")
    return f"{task.point.label}: {record['verdict']}" + (f", score {s['score']:.6f}" if s else "")
