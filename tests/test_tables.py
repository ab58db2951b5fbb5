"""The tables that hold what differs by runner, by decode target and by verdict: every list and
`choices` is read from them, the decode records reproduce the conversions and cache keys they
replaced, and the verdicts' exit codes are the README's.

Fast: no nets, no video decode beyond random planes.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from vcc._cli import build_parser
from vcc.base import (
    EXIT_BAD_INPUT,
    EXIT_HARNESS,
    RUNNER_GROUPS,
    RUNNER_SHAPES,
    RUNNERS,
    UV_GROUPS,
    BadInput,
    HarnessError,
    SubmissionFailed,
    installed_dali_version,
)
from vcc.runner import Verdict
from vcc.runner._docker import RUNNER_KINDS
from vcc.runner._verdicts import VerdictFailure, failure, verdict_for
from vcc.runner.env_cli import main as env_main
from vcc.scorer import (
    DALI_VARIANTS,
    DECODE_CHOICES,
    DECODE_TARGETS,
    ScoreOptions,
    YuvFrame,
    decode_target,
    frame_converter,
    yuv420_to_rgb_dali,
    yuv420_to_rgb_pyav,
)

ROOT = Path(__file__).resolve().parents[1]


def _subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _choices(parser: argparse.ArgumentParser, option: str) -> tuple[str, ...]:
    action = next(a for a in parser._actions if option in a.option_strings)
    return tuple(action.choices)


# --------------------------------------------------------------------------- runner shapes


@pytest.mark.parametrize(
    "command",
    [("run",), ("lint",), ("gate",), ("cache",), ("sweep",)],
    ids=lambda c: " ".join(c),
)
def test_every_runner_choice_is_the_tables_public_runners(command):
    parser = _subparser(build_parser(), *command)
    assert sorted(_choices(parser, "--runner")) == sorted(RUNNERS)


def test_env_sync_offers_every_shape_of_the_table():
    parser = _subparser(build_parser(), "env", "sync")
    assert _choices(parser, "--runner") == tuple(RUNNER_SHAPES)


def test_the_table_holds_the_checkouts_uv_groups_and_two_public_runners():
    assert set(UV_GROUPS) == {"cpu", "cu126", "cu128", "cu130", "mps"}
    assert [k for k, s in RUNNER_SHAPES.items() if s.public_runner] == list(RUNNERS) == ["cpu", "t4"]
    assert RUNNER_GROUPS == {"cpu": "cpu", "t4": "cu128"}
    for kind, shape in RUNNER_SHAPES.items():
        assert shape.kind == kind and shape.decode in DECODE_TARGETS
        assert shape.dali_version is None or shape.dali_version in DALI_VARIANTS
        if shape.inflate_sees_cuda:
            assert shape.gpu
        if shape.public_runner:  # what `vcc run` needs to replay it
            assert shape.cpus >= 1 and shape.memory_bytes > 0 and shape.setup_overhead_s > 0
            assert shape.score_fixed_s > 0 and shape.score_per_pair_s > 0 and shape.setup_basis


def test_lint_and_env_read_the_one_runner_groups():
    from vcc.runner import _env
    from vcc.submission import _lock

    assert _lock.RUNNER_GROUPS is RUNNER_GROUPS
    assert not hasattr(_env, "RUNNER_GROUPS")


def test_docker_kinds_are_the_shapes_with_a_dockerfile_and_each_exists():
    assert RUNNER_KINDS == tuple(k for k, s in RUNNER_SHAPES.items() if s.dockerfile)
    assert set(RUNNER_KINDS) == set(RUNNERS)
    for kind in RUNNER_KINDS:
        assert (ROOT / str(RUNNER_SHAPES[kind].dockerfile)).is_file()


@pytest.mark.parametrize("shape", [k for k, s in RUNNER_SHAPES.items() if not s.public_runner])
def test_env_sync_takes_a_group_only_shape_to_its_uv_group(shape, tmp_path, capsys):
    """The checkout here defines only `cpu`: the shape reaches the pyproject check as its group."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n\n[dependency-groups]\ncpu = []\n')
    (tmp_path / "uv.lock").write_text("version = 1\n")
    code = env_main(["sync", "--challenge-dir", str(tmp_path), "--runner", shape, "--envs-dir", str(tmp_path / "e")])
    assert code == EXIT_BAD_INPUT
    assert f"unknown dependency group {RUNNER_SHAPES[shape].uv_group!r}" in capsys.readouterr().err


def test_env_sync_refuses_a_group_and_runner_that_disagree(tmp_path, capsys):
    code = env_main(["sync", "--challenge-dir", str(tmp_path), "--runner", "t4", "--group", "cpu"])
    assert code == EXIT_BAD_INPUT and "disagree" in capsys.readouterr().err


def test_vcc_run_does_not_offer_group_only_shapes():
    parser = _subparser(build_parser(), "run")
    with pytest.raises(SystemExit):
        parser.parse_args(["sub", "--challenge-dir", "ch", "--runner", "cu126"])


# --------------------------------------------------------------------------- decode targets


def test_decode_choices_and_variants_unchanged():
    assert DECODE_CHOICES == ("pyav", "dali", "dali-emulated", "both")
    assert DALI_VARIANTS == ("1.52", "post-6076")


def test_cache_key_parts_are_the_ones_existing_caches_hold():
    """The records' key parts are byte for byte what conversion_name gave, so old entries still hit."""
    for variant in DALI_VARIANTS:
        assert decode_target("pyav").key_part(variant) == "pyav"
        assert decode_target("dali-emulated").key_part(variant) == f"dali-emulated:{variant}"
        assert decode_target("dali").key_part(variant) == f"dali:{installed_dali_version()}"


def _random_frame(seed: int, h: int = 6, w: int = 8) -> YuvFrame:
    rng = np.random.default_rng(seed)
    return YuvFrame(
        y=rng.integers(0, 256, (h, w), dtype=np.uint8),
        u=rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
        v=rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
        full_range=False,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_records_conversion_is_the_function_it_replaced(seed):
    frame = _random_frame(seed)
    assert np.array_equal(DECODE_TARGETS["pyav"].converter("1.52")(frame), yuv420_to_rgb_pyav(frame))
    assert np.array_equal(frame_converter("pyav")(frame), yuv420_to_rgb_pyav(frame))
    for variant in DALI_VARIANTS:
        want = yuv420_to_rgb_dali(frame, variant)
        assert np.array_equal(DECODE_TARGETS["dali-emulated"].converter(variant)(frame), want)
        assert np.array_equal(frame_converter(f"dali-emulated:{variant}")(frame), want)


def test_real_dali_has_no_cpu_conversion_and_replays_through_the_emulation():
    dali = decode_target("dali")
    assert dali.needs_cuda and dali.pads_odd_frames and dali.conversion is None and dali.batches
    assert dali.replay == dali.cpu_stand_in == "dali-emulated"
    assert [t.name for t in DECODE_TARGETS.values() if t.needs_cuda] == ["dali"]
    assert [t.name for t in DECODE_TARGETS.values() if t.pads_odd_frames] == ["dali", "dali-emulated"]
    with pytest.raises(HarnessError, match="not available"):
        frame_converter("dali-emulated:9.99")
    with pytest.raises(HarnessError, match="not available"):
        decode_target("nvjpeg")


def test_both_scores_each_public_runners_target():
    assert ScoreOptions(decode="both").targets == ["pyav", "dali-emulated"]
    assert ScoreOptions(decode="both", device="cuda").targets == ["pyav", "dali"]


def test_frames_replay_conversion_for_each_target():
    from vcc.scorer._frames import conversion_for

    assert conversion_for({"decode": "pyav"}) == ("pyav", None)
    assert conversion_for({"decode": "dali-emulated", "dali_variant": "post-6076"}) == ("dali-emulated:post-6076", None)
    name, note = conversion_for({"decode": "dali", "dali_variant": "1.52"})
    assert name == "dali-emulated:1.52" and "emulation" in (note or "")


# --------------------------------------------------------------------------- verdicts


def _readme_verdicts() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| ([a-z_]+) \| ([^|]+) \| [^|]+ \|$", text, re.M)
    return {verdict: code.strip() for verdict, code in rows if verdict in {v.value for v in Verdict}}


def test_verdicts_exit_codes_are_the_readmes():
    readme = _readme_verdicts()
    assert set(readme) == {v.value for v in Verdict}, "every verdict has a row in the README's table"
    for verdict in Verdict:
        code = verdict.exit_code
        if code is None:
            assert not readme[verdict.value].isdigit()
        else:
            assert readme[verdict.value] == str(code), verdict


def test_failure_carries_its_verdict_as_a_type_not_a_patched_attribute():
    err = failure(Verdict.TIMEOUT, "slow")
    assert isinstance(err, VerdictFailure) and isinstance(err, SubmissionFailed)
    assert verdict_for(err) is Verdict.TIMEOUT and err.exit_code == Verdict.TIMEOUT.exit_code
    assert verdict_for(BadInput("x")) is Verdict.BAD_INPUT
    assert verdict_for(SubmissionFailed("x")) is Verdict.INFLATE_FAILED
    assert verdict_for(HarnessError("x")).exit_code == EXIT_HARNESS
    with pytest.raises(ValueError):
        failure(Verdict.HARNESS_ERROR, "not the submission's failure")


def test_a_verdict_is_its_json_string():
    import json

    assert json.dumps({"verdict": Verdict.OUT_OF_MEMORY}) == '{"verdict": "out_of_memory"}'
    assert f"{Verdict.OK}" == "ok" and Verdict("wrong_output") is Verdict.WRONG_OUTPUT


def test_score_default_decode_is_the_runner_with_that_device():
    def parsed(decode: str | None, device: str) -> str:
        return ScoreOptions.from_args(argparse.Namespace(decode=decode, device=device)).decode

    for device, cuda in (("cpu", False), ("cuda", True), ("cuda:1", True)):
        want = next(s.decode for s in RUNNERS.values() if s.inflate_sees_cuda == cuda)
        assert parsed(None, device) == want
    assert parsed(None, "cpu") == "pyav"
    assert parsed(None, "cuda") == "dali"
    assert parsed("both", "cpu") == "both"
