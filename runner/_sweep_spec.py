"""`vcc sweep`'s SPEC: a compress command template, its parameters' values, the submission and the job.

A SPEC is TOML or YAML (by suffix; .yml/.yaml is YAML, anything else TOML):

    challenge_dir = "challenge"          # relative paths are relative to the SPEC file
    submission_dir = "submission"        # inflate.sh and its code: copied into every point
    compress = "bash {submission_dir}/compress.sh {videos_dir} {out_dir} {names_file} --crf {crf}"
    compress_timeout_s = 3600
    [grid]                               # every combination of the values ...
    crf = [30, 40]
    # points = [{crf = 30}, {crf = 40}]  # ... or a list of points (exactly one of grid / points)
    [run]                                # the `vcc run` options every point is replayed with
    runner = "cpu"

Every check happens here, before anything is started: an unknown key, a parameter without values, a
template naming an unknown placeholder are BadInput (exit 2) naming the SPEC file and the value.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import shlex
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import OFFICIAL_BATCH_SIZE, BadInput
from vcc.scorer import ScoreOptions

from ._config import RunConfig
from ._shapes import RUNNERS
from ._sizes import parse_size

__all__ = ["BUILTIN_PLACEHOLDERS", "RUN_KEYS", "SweepPoint", "SweepSpec", "load_spec"]

# Placeholders every template may use besides its parameters; `out_dir` is where archive.zip goes.
BUILTIN_PLACEHOLDERS = ("challenge_dir", "videos_dir", "names_file", "submission_dir", "out_dir", "python")

_TOP_KEYS = {"challenge_dir", "submission_dir", "compress", "compress_timeout_s", "grid", "points", "run", "out"}

# [run]: the `vcc run` options a point's RunConfig takes (name -> the type the SPEC gives).
RUN_KEYS: dict[str, tuple[type, ...]] = {
    "runner": (str,),
    "backend": (str,),
    "clock_s": (int, float),
    "setup_overhead_s": (int, float),
    "score_estimate_s": (int, float),
    "network": (bool,),
    "memory": (str, int),
    "cpus": (int,),
    "sandbox": (str,),
    "cgroup": (bool,),
    "batch_size": (int,),
    "threads": (int,),
    "numerics": (str,),
    "env": (str,),
    "envs_dir": (str,),
    "cache_dir": (str,),
    "names_file": (str,),
    "score": (bool,),
    "docker_image": (str,),
    "repeat": (int,),
}

_SANDBOX = {"auto": None, "require": True, "off": False}
Scalar = str | int | float | bool


@dataclass(frozen=True)
class SweepPoint:
    """One point: its parameters' values, in the SPEC's parameter order."""

    params: tuple[tuple[str, Scalar], ...]

    @property
    def values(self) -> dict[str, Scalar]:
        return dict(self.params)

    @property
    def point_id(self) -> str:
        """A directory name that says the values: `crf-30_scale-0.45`."""
        parts = [f"{k}-{_slug(v)}" for k, v in self.params]
        return "_".join(parts) or "point"

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params)


@dataclass
class SweepSpec:
    path: Path
    challenge_dir: Path
    submission_dir: Path
    compress: list[str]  # the template, split like a shell would (no shell runs it)
    parameters: list[str]
    points: list[SweepPoint]
    run: dict[str, Any] = field(default_factory=dict)
    compress_timeout_s: float = 3600.0
    out: Path | None = None

    def with_runner(self, runner: str | None) -> SweepSpec:
        """The SPEC with --runner's value in [run] (the command line wins)."""
        if runner is not None:
            self.run = {**self.run, "runner": runner}
            _check_run(self.path, self.run)
        return self

    def render(self, point: SweepPoint, builtins: dict[str, str]) -> list[str]:
        """The compress argv for `point` with the builtins filled (each token formatted alone)."""
        values = {**builtins, **{k: str(v) for k, v in point.params}}
        return [tok.format_map(values) for tok in self.compress]

    def symbolic_command(self, point: SweepPoint) -> list[str]:
        """The argv with the parameters filled and the builtins (paths) kept as `{name}`: what the hash
        of a point's inputs takes, so moving the out dir or the checkout does not rerun anything."""
        return self.render(point, {name: "{" + name + "}" for name in BUILTIN_PLACEHOLDERS})

    def run_config(self, submission_dir: Path, out_dir: Path, *, threads: int | None,
                   cache_dir: Path | None) -> RunConfig:
        """The RunConfig a point is replayed with: the [run] options, quiet, the cache allowed."""
        r = self.run
        return RunConfig(
            submission_dir=submission_dir,
            challenge_dir=self.challenge_dir,
            names_file=_path_or_none(r.get("names_file"), self.path),
            runner=r.get("runner", "cpu"),
            backend=r.get("backend", "local"),
            clock_s=float(r.get("clock_s", 1800.0)),
            setup_overhead_s=_float_or_none(r.get("setup_overhead_s")),
            score_estimate_s=_float_or_none(r.get("score_estimate_s")),
            network=r.get("network", True),
            out_dir=out_dir,
            scoring=r.get("score", True),
            memory_bytes=None if r.get("memory") is None else _memory(self.path, r["memory"]),
            cpus=r.get("cpus"),
            sandbox=_SANDBOX[r.get("sandbox", "auto")],
            cgroup=r.get("cgroup", True),
            progress=False,
            options=ScoreOptions(
                batch_size=r.get("batch_size", OFFICIAL_BATCH_SIZE),
                threads=r.get("threads", threads),
                numerics=r.get("numerics", ScoreOptions.numerics),
                # The ground truth is computed once (the first point) and read by every other point.
                use_cache=True,
                cache_dir=cache_dir,
            ),
            docker_image=r.get("docker_image"),
            env=r.get("env", "auto"),
            envs_dir=_path_or_none(r.get("envs_dir"), self.path),
            repeat=r.get("repeat", 1),
        )

    @property
    def cache_dir(self) -> Path | None:
        return _path_or_none(self.run.get("cache_dir"), self.path)

    @property
    def runner(self) -> str:
        return self.run.get("runner", "cpu")

    def digest(self) -> str:
        """A short hash of the SPEC's content, for the sweep's record."""
        blob = json.dumps({"compress": self.compress, "points": [p.params for p in self.points], "run": self.run},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_spec(path: Path) -> SweepSpec:
    """Read and check a SPEC; BadInput (exit 2) naming the file for anything wrong in it."""
    path = Path(path)
    data = _read(path)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _bad(path, f"unknown key {unknown[0]!r}", f"use only {', '.join(sorted(_TOP_KEYS))}")
    for key in ("challenge_dir", "submission_dir", "compress"):
        if key not in data:
            raise _bad(path, f"missing key {key!r}", f"add {key} = ... (see `vcc sweep --help`)")
    challenge_dir = _dir(path, data, "challenge_dir")
    submission_dir = _dir(path, data, "submission_dir")
    if not (submission_dir / "inflate.sh").is_file():
        raise _bad(path, f"submission_dir {submission_dir} has no inflate.sh", "point submission_dir at the "
                   "submission's code (inflate.sh and what it runs)")
    compress = _template(path, data["compress"])
    parameters, points = _points(path, data)
    _check_placeholders(path, compress, parameters)
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise _bad(path, "[run] must be a table of `vcc run` options", f"use keys among {', '.join(RUN_KEYS)}")
    _check_run(path, run)
    timeout = data.get("compress_timeout_s", 3600.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise _bad(path, f"compress_timeout_s must be a positive number of seconds, got {timeout!r}",
                   "use e.g. compress_timeout_s = 600")
    out = data.get("out")
    return SweepSpec(path=path, challenge_dir=challenge_dir, submission_dir=submission_dir, compress=compress,
                     parameters=parameters, points=points, run=dict(run), compress_timeout_s=float(timeout),
                     out=None if out is None else _resolve(path, str(out)))


# --------------------------------------------------------------------------- the pieces


def _bad(path: Path, message: str, fix: str) -> BadInput:
    return BadInput(f"sweep SPEC: {message}", path=path, fix=fix)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(f"cannot read the sweep SPEC: {e.strerror}", path=path, fix="pass an existing TOML or YAML "
                       "file") from e
    try:
        if path.suffix.lower() in (".yml", ".yaml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError: both name the line
        raise _bad(path, f"not valid {'YAML' if path.suffix.lower() in ('.yml', '.yaml') else 'TOML'}: {e}",
                   "fix the syntax at the line named") from e
    if not isinstance(data, dict):
        raise _bad(path, "the top level must be a table of keys", "see `vcc sweep --help` for the keys")
    return data


def _resolve(spec: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (spec.parent / p).resolve()


def _path_or_none(value: object, spec: Path) -> Path | None:
    return None if value is None else _resolve(spec, str(value))


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _dir(path: Path, data: dict[str, Any], key: str) -> Path:
    if not isinstance(data[key], str):
        raise _bad(path, f"{key} must be a path, got {data[key]!r}", f"use {key} = \"path/to/dir\"")
    d = _resolve(path, data[key])
    if not d.is_dir():
        raise _bad(path, f"{key} {d} is not a directory", f"point {key} at an existing directory")
    return d


def _template(path: Path, value: object) -> list[str]:
    if isinstance(value, str):
        try:
            tokens = shlex.split(value)
        except ValueError as e:
            raise _bad(path, f"compress template cannot be split: {e}", "balance the quotes") from e
    elif isinstance(value, list) and all(isinstance(t, str) for t in value):
        tokens = list(value)
    else:
        raise _bad(path, f"compress must be a command line or a list of arguments, got {value!r}",
                   'use compress = "bash {submission_dir}/compress.sh {videos_dir} {out_dir} {names_file}"')
    if not tokens:
        raise _bad(path, "compress is empty", "give the command that writes {out_dir}/archive.zip")
    return tokens


def _values(path: Path, name: str, values: object) -> list[Scalar]:
    if not isinstance(values, list) or not values:
        raise _bad(path, f"parameter {name!r} has no values ({values!r})", f"give a list: {name} = [1, 2]")
    for v in values:
        if not isinstance(v, str | int | float | bool):
            raise _bad(path, f"parameter {name!r}: value {v!r} is not a number or a string",
                       "use numbers, strings or booleans")
    return values


def _check_name(path: Path, name: object) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise _bad(path, f"parameter name {name!r} is not an identifier", "use letters, digits and _")
    if name in BUILTIN_PLACEHOLDERS:
        raise _bad(path, f"parameter {name!r} shadows a built-in placeholder", "rename the parameter")
    return name


def _points(path: Path, data: dict[str, Any]) -> tuple[list[str], list[SweepPoint]]:
    """The parameters and the points, from [grid] (every combination) or `points` (a list)."""
    if ("grid" in data) == ("points" in data):
        raise _bad(path, "give exactly one of [grid] and points", "[grid] for every combination, points = [...] "
                   "for a list")
    if "grid" in data:
        grid = data["grid"]
        if not isinstance(grid, dict) or not grid:
            raise _bad(path, "[grid] must name at least one parameter with its values", "add e.g. crf = [30, 40]")
        names = [_check_name(path, n) for n in grid]
        lists = [_values(path, n, grid[n]) for n in names]
        points = [SweepPoint(tuple(zip(names, combo, strict=True))) for combo in itertools.product(*lists)]
    else:
        raw = data["points"]
        if not isinstance(raw, list) or not raw:
            raise _bad(path, "points must be a non-empty list of tables", "use points = [{crf = 30}, {crf = 40}]")
        names = []
        for p in raw:
            if not isinstance(p, dict) or not p:
                raise _bad(path, f"point {p!r} is not a table of parameter values", "use {crf = 30, scale = 0.4}")
            names += [_check_name(path, n) for n in p if n not in names]
        points = []
        for p in raw:
            missing = [n for n in names if n not in p]
            if missing:
                raise _bad(path, f"point {p!r} has no value for {missing[0]!r}", "give every point every parameter")
            for n in names:
                _values(path, n, [p[n]])
            points.append(SweepPoint(tuple((n, p[n]) for n in names)))
    seen: dict[str, SweepPoint] = {}
    for p in points:
        if p.point_id in seen:
            raise _bad(path, f"two points share the directory {p.point_id!r} ({seen[p.point_id].label} and "
                       f"{p.label})", "list every point once, with values that differ")
        seen[p.point_id] = p
    return names, points


def _check_placeholders(path: Path, tokens: list[str], parameters: list[str]) -> None:
    known = set(parameters) | set(BUILTIN_PLACEHOLDERS)
    used: set[str] = set()
    for tok in tokens:
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(tok) if f is not None]
        except ValueError as e:
            raise _bad(path, f"compress template {tok!r}: {e}", "write a literal brace as {{ or }}") from e
        for f in fields:
            if f not in known:
                raise _bad(path, f"compress template names an unknown parameter {{{f}}}",
                           f"define {f} in [grid]/points, or use one of {', '.join(sorted(known))}")
            used.add(f)
    unused = [p for p in parameters if p not in used]
    if unused:
        raise _bad(path, f"parameter {unused[0]!r} is not used by the compress template",
                   f"pass it to the command, e.g. --{unused[0]} {{{unused[0]}}}")


def _check_run(path: Path, run: dict[str, Any]) -> None:
    for key, value in run.items():
        if key not in RUN_KEYS:
            raise _bad(path, f"unknown key {key!r} in [run]", f"use keys among {', '.join(RUN_KEYS)}")
        types = RUN_KEYS[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise _bad(path, f"[run] {key} = {value!r} has the wrong type", f"give a {types[0].__name__}")
    if run.get("runner", "cpu") not in RUNNERS:
        raise _bad(path, f"[run] runner = {run['runner']!r} is unknown", f"use one of {', '.join(RUNNERS)}")
    if run.get("sandbox", "auto") not in _SANDBOX:
        raise _bad(path, f"[run] sandbox = {run['sandbox']!r} is unknown", f"use one of {', '.join(_SANDBOX)}")
    try:  # the rest of RunConfig's own checks (numerics, env, clock, ...)
        probe = SweepSpec(path, path.parent, path.parent, ["true"], [], [], run=run)
        probe.run_config(path.parent, path.parent, threads=1, cache_dir=None)
    except BadInput as e:
        raise _bad(path, f"[run]: {e}", e.fix or "fix the [run] option") from e


def _memory(spec: Path, value: str | int) -> int:
    try:
        return parse_size(value)
    except argparse.ArgumentTypeError as e:
        raise _bad(spec, f"[run] memory: {e}", 'use e.g. memory = "16G"') from e


def _slug(value: Scalar) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(value)).strip("_") or "empty"
