"""`ScoreOptions`: how a score runs, declared, checked and resolved once, handed on by `to_argv`.

Every command that scores (`vcc score`, `vcc run`, `vcc gate`) declares the options through
`add_score_options`; `vcc run`'s local and Docker backends score with the same resolved values;
`to_argv` round-trips through `vcc score`'s parser; bad values exit 2 naming the option.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import vcc.scorer
from vcc import build_parser, main
from vcc.base import EXIT_BAD_INPUT, OFFICIAL_BATCH_SIZE, BadInput, cores, get_profile
from vcc.runner import RunConfig, _docker_backend, _local
from vcc.runner._docker import DockerProcResult
from vcc.runner._workspace import Workspace
from vcc.scorer import Challenge, ScoreConfig, ScoreOptions, torch_default_threads

# The options every scoring command declares, by dest.
_SHARED = ("batch_size", "threads", "workers", "numerics", "cache_dir", "use_cache")


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _declared(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    return {a.dest: (a.default, a.type, a.choices, type(a).__name__) for a in parser._actions if a.dest in _SHARED}


def _parse(command: str, *argv: str) -> argparse.Namespace:
    return build_parser().parse_args([command, "SUB", "--challenge-dir", "CH", *argv])


def test_score_run_and_gate_declare_the_same_options() -> None:
    score, run, gate = (_declared(_subparser(c)) for c in ("score", "run", "gate"))
    assert run == gate  # gate takes run's options (argparse parents)
    assert set(score) == set(run) == set(_SHARED)
    for dest in ("batch_size", "threads", "workers", "numerics", "cache_dir"):
        assert score[dest] == run[dest], dest
    # The cache: on for `vcc score` (--no-cache), off for the runner's replay (--use-cache).
    assert score["use_cache"][0] is True and run["use_cache"][0] is False
    # Their defaults are ScoreOptions' own.
    assert ScoreOptions.from_args(_parse("score")) == ScoreOptions()
    assert ScoreOptions.from_args(_parse("run")) == ScoreOptions(use_cache=False)
    assert ScoreOptions.from_args(_parse("gate")) == ScoreOptions(use_cache=False)
    assert ScoreOptions().batch_size == OFFICIAL_BATCH_SIZE == 16


def test_the_defaults_reach_the_configs(tmp_path: Path) -> None:
    from vcc.runner.cli import run_config

    args = _parse("run", "--threads", "3", "--workers", "2", "--numerics", "portable", "--batch-size", "8")
    cfg = run_config(args)
    assert cfg.options == ScoreOptions(threads=3, workers=2, numerics="portable", batch_size=8, use_cache=False)
    assert ScoreOptions.from_args(_parse("score", "--device", "cuda")).decode == "dali"  # the T4 runner's
    assert ScoreConfig(tmp_path, tmp_path).options == ScoreOptions()
    assert RunConfig(tmp_path, tmp_path).options == ScoreOptions(use_cache=False)


@pytest.mark.parametrize("options", [
    ScoreOptions(),
    ScoreOptions(use_cache=False),
    ScoreOptions(device="cuda", decode="both", dali_variant="post-6076", batch_size=4, threads=3, workers=1,
                 numerics="portable", cache_dir=Path("/tmp/gt"), read_ahead="off"),
    ScoreOptions(decode="dali-emulated", threads=1, workers=5, numerics="runner", read_ahead="on"),
])
def test_to_argv_round_trips_through_vcc_score(options: ScoreOptions) -> None:
    assert ScoreOptions.from_args(_parse("score", *options.to_argv())) == options


@pytest.mark.parametrize(("argv", "what"), [
    (["--threads", "0"], "--threads"),
    (["--workers", "-1"], "--workers"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_values_exit_2_naming_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             what: str) -> None:
    for command in ("score", "run", "gate"):
        code = main([command, str(tmp_path), "--challenge-dir", str(tmp_path), *argv])
        err = capsys.readouterr().err
        assert code == EXIT_BAD_INPUT and f"{what} must be at least 1" in err and "fix:" in err, (command, err)


def test_bad_values_are_refused_by_the_options_themselves() -> None:
    for kw, what in (({"threads": 0}, "--threads"), ({"workers": 0}, "--workers"), ({"batch_size": 0}, "--batch-size"),
                     ({"threads": True}, "--threads"), ({"decode": "x"}, "--decode"),
                     ({"dali_variant": "9"}, "--dali-variant"), ({"read_ahead": "x"}, "--read-ahead")):
        with pytest.raises(BadInput, match=what):
            ScoreOptions(**kw)
    with pytest.raises(BadInput, match="unknown numerics profile 'fast'"):
        ScoreOptions(numerics="fast")


def test_an_unknown_profile_is_refused_before_argparse_with_the_same_check(capsys: pytest.CaptureFixture[str]
                                                                           ) -> None:
    assert main(["score", "S", "--challenge-dir", "C", "--numerics", "fast"]) == EXIT_BAD_INPUT
    assert "unknown numerics profile 'fast'" in capsys.readouterr().err


def test_threads_and_workers_are_resolved_in_one_place() -> None:
    plain = ScoreOptions()
    assert plain.resolved(default_threads=3, cores=8) == dataclasses.replace(plain, threads=3, workers=2)
    # The profile's thread count holds on any machine; --threads over it.
    runner = ScoreOptions(numerics="runner")
    assert runner.resolved(default_threads=2, cores=2).threads == get_profile("runner").threads
    assert dataclasses.replace(runner, threads=1).resolved(default_threads=2, cores=2).threads == 1
    # One process: one worker, whatever the cores.
    assert ScoreOptions(device="cuda").resolved(default_threads=1, cores=8).workers == 1
    assert plain.resolved(default_threads=1, cores=8, one_process=True).workers == 1
    # Resolved options resolve to themselves: a value decided once travels as given.
    once = plain.resolved(default_threads=2, cores=5)
    assert once.resolved(default_threads=7, cores=64) == once


def _local_options(cfg: RunConfig, ws: Workspace, out: Path, device: str, decode: str,
                   monkeypatch: pytest.MonkeyPatch) -> ScoreOptions:
    seen: list[ScoreConfig] = []
    monkeypatch.setattr(vcc.scorer, "request_huge_pages", lambda: None)
    monkeypatch.setattr(vcc.scorer, "score_submission",
                        lambda c: seen.append(c) or SimpleNamespace(as_json=lambda: {}))
    _local.LocalBackend(cfg, Challenge.load(cfg.challenge_dir)).score(ws, out, device, decode)
    return seen[0].options


def _docker_options(cfg: RunConfig, ws: Workspace, out: Path, device: str, decode: str,
                    monkeypatch: pytest.MonkeyPatch) -> ScoreOptions:
    seen: list[list[str]] = []

    def docker_run(image: str, argv: list[str], **kw: object) -> DockerProcResult:
        seen.append(argv)
        (out / "score.json").write_text(json.dumps({}))
        return DockerProcResult(0, 1.0, False, False, None, "", "")

    monkeypatch.setattr(_docker_backend, "docker_run", docker_run)
    backend = _docker_backend.DockerBackend.__new__(_docker_backend.DockerBackend)  # no engine needed to build argv
    backend.cfg, backend.challenge, backend.image, backend.labels, backend.gpu = (
        cfg, Challenge.load(cfg.challenge_dir), "vcc-test", {}, False)
    backend.score(ws, out, device, decode)
    assert seen[0][:2] == ["vcc", "score"]
    return ScoreOptions.from_args(build_parser().parse_args(seen[0][1:]))


@pytest.mark.parametrize(("runner", "options", "device", "decode"), [
    ("cpu", ScoreOptions(use_cache=False), "cpu", "pyav"),
    ("cpu", ScoreOptions(use_cache=False, numerics="portable"), "cpu", "pyav"),
    ("cpu", ScoreOptions(use_cache=False, threads=1), "cpu", "pyav"),
    ("t4", ScoreOptions(use_cache=False, workers=1), "cpu", "dali-emulated"),
])
def test_local_and_docker_backends_score_with_the_same_options(
        tmp_path: Path, mini_challenge: Path, monkeypatch: pytest.MonkeyPatch, runner: str, options: ScoreOptions,
        device: str, decode: str) -> None:
    cfg = RunConfig(tmp_path / "sub", mini_challenge, runner=runner, options=options)
    ws = Workspace(tmp_path / "ws", "sub")
    out = tmp_path / "out"
    out.mkdir()
    local = _local_options(cfg, ws, out, device, decode, monkeypatch)
    docker = _docker_options(cfg, ws, out, device, decode, monkeypatch)
    assert local == docker == cfg.scoring_options(device, decode)
    assert local.threads is not None and local.workers is not None  # decided on the host, passed explicitly
    # The runner's CPUs, capped at this machine's cores (a profile's count holds on any machine).
    runner_cores = min(cores(), cfg.shape.cpus)
    expected = options.threads or options.profile.threads or min(torch_default_threads(), runner_cores)
    assert local.threads == expected
    assert local.workers == (options.workers or max(1, runner_cores // expected))
