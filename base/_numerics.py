"""CPU numerics: which kernels torch will run here, and profiles that cap them.

torch's CPU kernels pick code paths by instruction set (ATen's vector code, oneDNN, MKL) and
split work by thread count, so the same code gives other last bits on another CPU. What a
profile caps is read from environment variables when torch initialises its kernels, so a
profile is applied before torch is first imported: this module never imports torch at import
time, and `apply_profile` refuses once torch is loaded with other settings.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from ._errors import BadInput, HarnessError

__all__ = [
    "NUMERICS_PROFILES",
    "RUNNER_THREADS",
    "PORTABLE_THREADS",
    "CAP_VARIABLES",
    "NumericsProfile",
    "CpuInfo",
    "get_profile",
    "NUMERICS_HELP",
    "add_numerics_argument",
    "numerics_from_argv",
    "cpu_info",
    "check_profile_supported",
    "profile_env",
    "apply_profile",
    "caps_in_force",
    "numerics_class_id",
    "numerics_identity",
    "installed_dali_version",
    "numerics_rerun",
    "cores",
]

# The public CPU runner has 4 vCPUs and torch uses one thread per core there. The bits depend
# on the thread count, not on the cores, so any machine can run 4 threads.
RUNNER_THREADS = 4

PORTABLE_THREADS = 2

# The variables that change which CPU kernels torch runs (read once, when torch initialises).
CAP_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")

_RUNNER_NOTE = (
    "reproduces an AVX2 host like the public CPU runner's usual one; the hosted runner's CPU model varies "
    "between jobs, so this is one plausible runner host, not every host"
)
_INTEL_MKL_NOTE = (
    "this is an Intel host: MKL's code path on the runner's AMD CPUs cannot be reproduced here "
    "(MKL_CBWR=AVX2 is not the path MKL takes on AMD), so MKL-backed ops may still differ in the last bits"
)


@dataclass(frozen=True)
class NumericsProfile:
    """A named set of kernel caps and a thread count."""

    name: str
    env: dict[str, str] = field(default_factory=dict)  # set before torch is imported
    threads: int | None = None  # None: as given (--threads) or torch's default
    needs_flag: str | None = None  # a /proc/cpuinfo flag the caps need (they cannot raise the ISA)
    about: str = ""


NUMERICS_PROFILES: dict[str, NumericsProfile] = {
    p.name: p
    for p in (
        NumericsProfile("native", about="this machine as it is: torch's own choice of kernels"),
        # Measured with the official code on an AVX2 AMD EPYC: these two caps give exactly the
        # native bits there. MKL is left alone: MKL_CBWR=AVX2 changed PoseNet's bits on that
        # machine, because MKL's default path on AMD is not its AVX2 reproducibility path.
        NumericsProfile(
            "runner",
            env={"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
            threads=RUNNER_THREADS,
            needs_flag="avx2",
            about=_RUNNER_NOTE,
        ),
        # Caps every x86-64 CPU supports, so machines of different classes can agree. 2 threads:
        # measured on golden `near`, an AVX-512 Intel Xeon and an AVX2 AMD EPYC gave the same
        # bits under these caps at 2 threads (at 4 threads the Xeon's differ from its 2).
        NumericsProfile(
            "portable",
            env={"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"},
            threads=PORTABLE_THREADS,
            needs_flag="sse4_1",
            about="the kernels every x86-64 CPU has; whether two classes agree under it is a measurement",
        ),
    )
}


NUMERICS_HELP = (
    "CPU kernel caps: native (this machine as it is), runner (the public CPU runner's shape: 4 threads, ATen "
    "and oneDNN capped at AVX2; needs AVX2), portable (caps every x86-64 CPU has, 2 threads). Results depend "
    "on them in the last bits; --threads overrides the profile's thread count"
)


def add_numerics_argument(parser: Any) -> None:
    parser.add_argument("--numerics", choices=tuple(NUMERICS_PROFILES), default="native", help=NUMERICS_HELP)


def numerics_from_argv(argv: list[str]) -> str | None:
    """The value of --numerics in a command line, without parsing it (used before torch loads)."""
    for i, arg in enumerate(argv):
        if arg == "--numerics" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--numerics="):
            return arg.split("=", 1)[1]
    return None


def cores() -> int:
    """The cores this process may run on (its affinity), else the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def get_profile(name: str) -> NumericsProfile:
    try:
        return NUMERICS_PROFILES[name]
    except KeyError:
        raise BadInput(f"unknown numerics profile {name!r}", fix=f"use one of {', '.join(NUMERICS_PROFILES)}") from None


@dataclass(frozen=True)
class CpuInfo:
    machine: str  # platform.machine(): x86_64, aarch64, ...
    vendor: str  # vendor_id: GenuineIntel, AuthenticAMD, ... ("unknown" where not told)
    model: str
    flags: frozenset[str]

    # The flags that decide torch's CPU kernels (ATen capability, oneDNN ISA, MKL path).
    RELEVANT = ("sse4_1", "avx", "fma", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")

    def as_json(self) -> dict[str, Any]:
        return {"machine": self.machine, "vendor": self.vendor, "model": self.model,
                "flags": {f: f in self.flags for f in self.RELEVANT}}


def cpu_info(cpuinfo_path: str = "/proc/cpuinfo") -> CpuInfo:
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = fields.get("flags") or fields.get("Features") or ""
    return CpuInfo(
        machine=platform.machine(),
        vendor=fields.get("vendor_id") or fields.get("CPU implementer") or "unknown",
        model=fields.get("model name") or fields.get("Model") or platform.processor() or "unknown",
        flags=frozenset(flags.split()),
    )


def check_profile_supported(profile: NumericsProfile, cpu: CpuInfo | None = None) -> None:
    """Refuse (exit 4) a profile whose caps this CPU cannot run: caps lower the ISA, never raise it."""
    if profile.needs_flag is None:
        return
    cpu = cpu or cpu_info()
    if cpu.machine not in ("x86_64", "AMD64") or profile.needs_flag not in cpu.flags:
        raise HarnessError(
            f"--numerics {profile.name} needs an x86-64 CPU with {profile.needs_flag.upper()}; this machine is "
            f"{cpu.machine} ({cpu.model}), which cannot run those kernels",
            fix="use --numerics native here, or run on an x86-64 machine with "
            f"{profile.needs_flag.upper()} (the public CPU runner's kind)",
        )


def profile_env(profile: NumericsProfile, environ: dict[str, str] | None = None) -> dict[str, str]:
    """`environ` with the profile's caps set (native leaves it as it is)."""
    env = dict(os.environ if environ is None else environ)
    env.update(profile.env)
    return env


def _caps_not_in_force(profile: NumericsProfile) -> dict[str, str]:
    """The profile's variables that this process's environment does not hold yet."""
    return {k: v for k, v in profile.env.items() if os.environ.get(k) != v}


def apply_profile(profile: NumericsProfile) -> None:
    """Put the profile's caps into this process's environment, before torch reads them.

    Refuses when torch is already imported with other values: they would not take effect, and
    the report would claim a profile that did not run. The CLI avoids this by setting them
    first (or re-running itself); a library caller sets them in the environment before Python
    starts, or calls this before importing torch.
    """
    check_profile_supported(profile)
    missing = _caps_not_in_force(profile)
    if not missing:
        return
    if "torch" in sys.modules:
        settings = " ".join(f"{k}={v}" for k, v in profile.env.items())
        raise HarnessError(
            f"numerics profile {profile.name!r} must be applied before torch is imported, and torch is "
            "already loaded in this process",
            fix=f"use the vcc command line (it applies profiles itself), or start Python with {settings}",
        )
    os.environ.update(missing)


def caps_in_force(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    env = os.environ if environ is None else environ
    return {k: env.get(k) for k in CAP_VARIABLES}


def numerics_class_id(cpu: CpuInfo | None = None) -> str:
    """`<torch CPU capability>-<vendor>`, e.g. AVX2-AuthenticAMD: the naming of the golden files.

    The capability is the one in force, so ATEN_CPU_CAPABILITY=avx2 on an AVX-512 host gives AVX2.
    """
    import torch

    cpu = cpu or cpu_info()
    return f"{torch.backends.cpu.get_cpu_capability()}-{cpu.vendor}"


def _library_line(config: str, pattern: str) -> str | None:
    m = re.search(pattern, config)
    return m.group(1) if m else None


def numerics_identity(profile: str = "native", device: str = "cpu") -> dict[str, Any]:
    """Everything that decides the last bits of a score on this machine (the report's `numerics`)."""
    import torch

    cpu = cpu_info()
    config = torch.__config__.show()
    out: dict[str, Any] = {
        "class": numerics_class_id(cpu),
        "profile": profile,
        "cpu": cpu.as_json(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "onednn": _library_line(config, r"MKL-DNN v([\d.]+)") if torch.backends.mkldnn.is_available() else None,
        "mkl": _library_line(config, r"Math Kernel Library Version ([\d.]+)") if torch.backends.mkl.is_available()
        else None,
        "caps": caps_in_force(),
        "notes": [],
    }
    if profile == "runner":
        out["notes"].append(_RUNNER_NOTE)
        if cpu.vendor == "GenuineIntel":
            out["notes"].append(_INTEL_MKL_NOTE)
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        major, minor = torch.cuda.get_device_capability(index)
        out["gpu"] = {
            "name": torch.cuda.get_device_name(index),
            "compute_capability": f"{major}.{minor}",
            "cuda": torch.version.cuda,
            "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
            "dali": installed_dali_version(),
        }
    return out


def installed_dali_version() -> str | None:
    """The installed DALI wheel's version, read from its metadata (importing DALI is slow)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("nvidia-dali-cuda120", "nvidia-dali-cuda130", "nvidia-dali-cuda110", "nvidia-dali"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def numerics_rerun(argv: list[str]) -> int | None:
    """Apply --numerics before torch is imported: its caps are read when torch initialises.

    Sets the caps in this process when torch is not loaded yet; otherwise (vcc.main called from
    a Python program that imported torch) runs the same command in a fresh interpreter and
    returns its exit code. None: carry on in this process.
    """
    profile = get_profile(numerics_from_argv(argv) or "native")  # the one check of a profile's name
    if not profile.env:
        return None
    check_profile_supported(profile)
    missing = _caps_not_in_force(profile)
    if not missing:
        return None
    if "torch" not in sys.modules:
        os.environ.update(missing)
        return None
    import subprocess

    return subprocess.run([sys.executable, "-m", "vcc", *argv], env=profile_env(profile)).returncode
