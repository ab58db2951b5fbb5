"""CPU numerics: identity, profiles (applied before torch), refusals, and the report's numerics block."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vcc
import vcc.base._numerics as numerics
from vcc import base
from vcc.base import (
    CAP_VARIABLES,
    NUMERICS_PROFILES,
    CpuInfo,
    HarnessError,
    apply_profile,
    check_profile_supported,
    cpu_info,
    get_profile,
    numerics_from_argv,
)

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu sse4_1 avx fma avx2 sha_ni

processor\t: 1
vendor_id\t: SomethingElse
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
CPU implementer\t: 0x41
"""


def _cpu(tmp_path: Path, text: str, machine: str, monkeypatch: pytest.MonkeyPatch) -> CpuInfo:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    monkeypatch.setattr(numerics.platform, "machine", lambda: machine)
    return cpu_info(str(path))


def test_cpu_info_reads_the_first_processor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = _cpu(tmp_path, AMD, "x86_64", monkeypatch)
    assert (cpu.vendor, cpu.model) == ("AuthenticAMD", "AMD EPYC 7763 64-Core Processor")
    flags = cpu.as_json()["flags"]
    assert flags["avx2"] and flags["fma"] and not flags["avx512f"] and not flags["amx_tile"]
    arm = _cpu(tmp_path, ARM, "aarch64", monkeypatch)
    assert arm.vendor == "0x41" and "asimd" in arm.flags


def test_profiles_refuse_cpus_that_lack_their_isa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arm = _cpu(tmp_path, ARM, "aarch64", monkeypatch)
    for name in ("runner", "portable"):
        with pytest.raises(HarnessError, match="needs an x86-64 CPU") as err:
            check_profile_supported(get_profile(name), arm)
        assert err.value.exit_code == 4 and "--numerics native" in (err.value.fix or "")
    old_x86 = CpuInfo("x86_64", "GenuineIntel", "Xeon E5-2690", frozenset({"sse4_1", "avx"}))
    with pytest.raises(HarnessError, match="AVX2"):
        check_profile_supported(get_profile("runner"), old_x86)
    check_profile_supported(get_profile("portable"), old_x86)  # SSE4.1 is enough
    check_profile_supported(get_profile("native"), arm)  # native runs anywhere


def test_cli_refuses_runner_profile_on_arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    arm = _cpu(tmp_path, ARM, "aarch64", monkeypatch)
    monkeypatch.setattr(numerics, "cpu_info", lambda: arm)
    rc = vcc.main(["score", str(tmp_path), "--challenge-dir", str(tmp_path), "--numerics", "runner"])
    assert rc == 4
    assert "--numerics runner needs an x86-64 CPU with AVX2" in capsys.readouterr().err


def test_numerics_from_argv() -> None:
    assert numerics_from_argv(["score", "s", "--numerics", "runner"]) == "runner"
    assert numerics_from_argv(["run", "--numerics=portable", "s"]) == "portable"
    assert numerics_from_argv(["score", "s"]) is None


def test_profiles_are_as_documented() -> None:
    runner = NUMERICS_PROFILES["runner"]
    assert runner.env == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"} and runner.threads == 4
    assert "MKL_CBWR" not in runner.env  # MKL_CBWR=AVX2 changes the bits on AMD: MKL is left alone
    portable = NUMERICS_PROFILES["portable"]
    assert portable.env == {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"}
    assert NUMERICS_PROFILES["native"].env == {} and set(CAP_VARIABLES) >= set(portable.env)


def test_apply_profile_refuses_once_torch_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch  # noqa: F401 - the point: torch is loaded

    for var in CAP_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(HarnessError, match="before torch is imported") as err:
        apply_profile(get_profile("portable"))
    assert "ATEN_CPU_CAPABILITY=default" in (err.value.fix or "")
    assert "ATEN_CPU_CAPABILITY" not in os.environ  # nothing half-applied
    for k, v in get_profile("portable").env.items():
        monkeypatch.setenv(k, v)
    apply_profile(get_profile("portable"))  # already in force (set before start): accepted
    apply_profile(get_profile("native"))


def test_base_never_imports_torch() -> None:
    code = ("import sys, base; base.get_profile('runner'); base.cpu_info(); base.numerics_from_argv([]); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_identity_names_the_class_and_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    ident = base.numerics_identity("native")
    vendor = cpu_info().vendor
    assert ident["class"] == f"{torch.backends.cpu.get_cpu_capability()}-{vendor}"
    assert ident["torch_threads"] == torch.get_num_threads()
    assert set(ident["caps"]) == set(CAP_VARIABLES)
    assert set(ident["cpu"]) == {"machine", "vendor", "model", "flags"}
    if torch.backends.mkldnn.is_available():
        assert ident["onednn"][0].isdigit()
    runner = base.numerics_identity("runner")
    assert any("CPU model varies between jobs" in n for n in runner["notes"])


def test_profile_in_a_fresh_process_sets_the_class() -> None:
    """The caps act when set before torch starts: ATEN_CPU_CAPABILITY=default gives class DEFAULT-<vendor>."""
    env = {**os.environ, **get_profile("portable").env}
    code = "import json, base; print(json.dumps(base.numerics_identity('portable')))"
    out = json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                    text=True).stdout)
    assert out["class"] == f"DEFAULT-{cpu_info().vendor}"
    assert out["caps"] == {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"}


def test_spread_variants_cover_threads_and_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vcc.scorer import _spread

    monkeypatch.setattr(_spread, "_default_threads", lambda: 2)
    avx2 = CpuInfo("x86_64", "AuthenticAMD", "EPYC", frozenset({"sse4_1", "avx2", "fma"}))
    monkeypatch.setattr(numerics, "cpu_info", lambda: avx2)
    variants, skipped = _spread.spread_variants()
    assert [v.label for v in variants] == ["native@default", "native@1", "native@4", "runner@4", "portable@2"]
    assert skipped == []
    arm = _cpu(tmp_path, ARM, "aarch64", monkeypatch)
    monkeypatch.setattr(numerics, "cpu_info", lambda: arm)
    variants, skipped = _spread.spread_variants()
    assert [v.profile for v in variants] == ["native"] * 3
    assert [s["profile"] for s in skipped] == ["runner", "portable"] and "x86-64" in skipped[0]["reason"]


def test_spread_summary_and_table() -> None:
    from vcc.scorer._spread import spread_summary, spread_text

    def fig(pose: float, seg: float, score: float) -> dict:
        return {"posenet_distortion": pose, "segnet_distortion": seg, "score": score,
                "terms": {"segnet": 100 * seg, "posenet": pose, "rate": 1.5}}

    results = {"native@default": fig(2e-5, 0.25, 31.0), "native@1": fig(3e-5, 0.26, 31.5), "portable@2": fig(1e-5, 0.24,
                                                                                                              30.5)}
    summary = spread_summary(results["native@default"], results)
    assert summary["score"] == {"native": 31.0, "min": 30.5, "max": 31.5, "spread": 1.0}
    assert summary["posenet_distortion"]["spread"] == 3e-5 - 1e-5 and summary["rate_term"]["spread"] == 0
    variants = [{"label": k, "class": "AVX2-AuthenticAMD", **v} for k, v in results.items()]
    text = spread_text({"variants": variants, "summary": summary, "skipped": []})
    for line in text.splitlines()[2:]:  # every figure stands in its own column
        assert len(line.split()) == (5 if line.split()[0] not in ("min", "max", "spread") else 4), line
