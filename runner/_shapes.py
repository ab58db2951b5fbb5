"""The runner shapes (vcc.base's table, re-exported: the scorer reads it too) and the other
choices `vcc run` offers."""

from __future__ import annotations

from vcc.base import RUNNER_GROUPS, RUNNER_SHAPES, RUNNERS, UV_GROUPS, GiB, RunnerShape, runner_kinds

__all__ = ["GiB", "RunnerShape", "RUNNERS", "RUNNER_SHAPES", "RUNNER_GROUPS", "UV_GROUPS", "runner_kinds",
           "BACKENDS", "ENV_CHOICES"]

BACKENDS = ("local", "docker")
# Which Python environment runs inflate with the local backend: the checkout's synced
# `uv sync --group` env (official), vcc's own (vcc), or official where synced (auto).
ENV_CHOICES = ("auto", "official", "vcc")
