"""inflate's environment, one allow-list for every backend.

inflate is untrusted code: it gets only what the official job's inflate gets, never vcc's
whole environment (tokens, cloud credentials, LD_PRELOAD, OMP_* tuning that the runner does
not have). What it gets:

- from the host, on the local backend only: PATH (the backend puts inflate's Python first),
  LANG, LANGUAGE, LC_* and TZ;
- the numerics profile's kernel caps (base._numerics.CAP_VARIABLES) where vcc's environment
  holds them, so inflate runs the kernels scoring runs;
- CUDA visibility: the CPU runner has no GPU (CUDA_VISIBLE_DEVICES empty); the T4 runner
  passes the host's own CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER;
- what the official job sets for its steps: the workflow's UV_GROUP and EVAL_DEVICE
  (SPEC.md section 8: `uv sync --group cpu|cu128`, `--device cpu|cuda`), and CI and
  GITHUB_ACTIONS, which GitHub Actions sets for every step;
- HOME (a fresh, empty dir); TMPDIR is the sandbox's to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from vcc.base import CAP_VARIABLES

__all__ = ["HOST_VARIABLES", "CUDA_VARIABLES", "official_job_variables", "inflate_environment"]

HOST_VARIABLES = ("PATH", "LANG", "LANGUAGE", "TZ")
HOST_PREFIXES = ("LC_",)
CUDA_VARIABLES = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


def official_job_variables(group: str, device: str) -> dict[str, str]:
    """The variables the official workflow gives every step of its job."""
    return {"CI": "true", "GITHUB_ACTIONS": "true", "UV_GROUP": group, "EVAL_DEVICE": device}


def inflate_environment(
    *,
    home: str,
    gpu: bool,
    group: str,
    host: Mapping[str, str] | None = None,
    from_host: bool = True,
) -> dict[str, str]:
    """inflate's environment built from the allow-list; `from_host` False (Docker: the image has
    its own PATH and locale) takes nothing but the caps and CUDA visibility from `host`."""
    host = os.environ if host is None else host
    env: dict[str, str] = {}
    if from_host:
        env.update({k: v for k, v in host.items() if k in HOST_VARIABLES or k.startswith(HOST_PREFIXES)})
    env.update({k: host[k] for k in CAP_VARIABLES if k in host})
    if gpu:
        env.update({k: host[k] for k in CUDA_VARIABLES if k in host})
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU runner has no GPU
    env.update(official_job_variables(group, "cuda" if gpu else "cpu"))
    env["HOME"] = home
    return env
