"""The ground-truth decode targets a score can be computed against, one record each (torch-free:
the CLI's choices come from here; a target's conversion is imported when it is first used).

pyav: the CPU runner's decode. dali: the T4 runner's (real DALI on CUDA). dali-emulated: DALI's
RGB conversion computed on the CPU. `--decode both`: pyav and the DALI target in one run.

A new decode path is one DecodeTarget in DECODE_TARGETS plus its conversion function
(YuvFrame -> uint8 RGB (H, W, 3), with a `variant` keyword where `variant_in_key`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from typing import Any

__all__ = ["DECODE_CHOICES", "DALI_VARIANTS", "DECODE_TARGETS", "DecodeTarget", "decode_target", "frame_converter",
           "runner_target", "targets_for"]

# "1.52": the official lock's nvidia-dali-cuda120==1.52.0. "post-6076": releases after
# NVIDIA/DALI PR #6076 (Nov 2025), whose kernel keeps chroma in float. The DALI version
# changes the T4 runner's target, so both stay selectable.
DALI_VARIANTS = ("1.52", "post-6076")


@dataclass(frozen=True)
class DecodeTarget:
    """One way of turning the original video into the ground truth's RGB frames."""

    name: str  # the --decode value, the report's `decode`
    label: str  # what it is, in words
    # "module:function" under vcc.scorer: the per-frame YUV->RGB conversion on the CPU. None: the
    # frames come whole from a GPU pipeline (`batches`), and `replay` re-creates them on the CPU.
    conversion: str | None
    needs_cuda: bool  # scoring against it needs a CUDA device
    pads_odd_frames: bool  # an odd frame count's last pair is padded with a zero frame (DALI)
    # The cache key's decode part is `name`, or `name:qualifier`: the DALI variant emulated
    # ("variant"), or the DALI release installed ("installed_dali"). Existing caches rely on it.
    key_qualifier: str | None = None
    batches: str | None = None  # "module:function" (path, batch_size, device) -> uint8 batches, for GPU targets
    replay: str | None = None  # the target whose CPU conversion re-creates these frames (None: itself)
    cpu_stand_in: str | None = None  # the target scored instead where there is no CUDA (`--decode both`, runners)
    warning: str | None = None  # the report's warning when scored against it ({variant}: the DALI variant)

    @property
    def variant_in_key(self) -> bool:
        return self.key_qualifier == "variant"

    def key_part(self, dali_variant: str) -> str:
        """The frames' exact recipe: the cache key's decode field (a DALI upgrade changes the frames)."""
        if self.key_qualifier == "variant":
            return f"{self.name}:{dali_variant}"
        if self.key_qualifier == "installed_dali":
            from vcc.base import installed_dali_version

            return f"{self.name}:{installed_dali_version()}"
        return self.name

    def converter(self, dali_variant: str) -> Callable[[Any], Any]:
        """The per-frame conversion (YuvFrame -> uint8 RGB), for this DALI variant where it matters."""
        if self.conversion is None:
            raise ValueError(f"decode target {self.name!r} has no CPU conversion (its frames come from the GPU)")
        if self.variant_in_key and dali_variant not in DALI_VARIANTS:
            from vcc.base import HarnessError

            raise HarnessError(f"decode path {self.name}:{dali_variant} is not available in this build",
                               fix=f"use a DALI variant of {', '.join(DALI_VARIANTS)}")
        function = _resolve(self.conversion)
        return partial(function, variant=dali_variant) if self.variant_in_key else function

    def batch_source(self) -> Callable[..., Any]:
        if self.batches is None:
            raise ValueError(f"decode target {self.name!r} decodes frame by frame (no batch source)")
        return _resolve(self.batches)


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, function = ref.partition(":")
    return getattr(import_module(module, "vcc.scorer"), function)


DECODE_TARGETS: dict[str, DecodeTarget] = {
    target.name: target
    for target in (
        DecodeTarget(
            name="pyav",
            label="PyAV decode on the CPU, the CPU runner's ground truth",
            conversion="._decode:yuv420_to_rgb_pyav",
            needs_cuda=False,
            pads_odd_frames=False,
        ),
        DecodeTarget(
            name="dali",
            label="real DALI on CUDA, the T4 runner's ground truth",
            conversion=None,
            needs_cuda=True,
            pads_odd_frames=True,
            key_qualifier="installed_dali",
            batches="._dali:iter_dali_pair_batches",
            replay="dali-emulated",
            cpu_stand_in="dali-emulated",
        ),
        DecodeTarget(
            name="dali-emulated",
            label="DALI's RGB conversion emulated on the CPU",
            conversion="._dali:yuv420_to_rgb_dali",
            needs_cuda=False,
            pads_odd_frames=True,
            key_qualifier="variant",
            warning=(
                "dali-emulated: the T4 runner's ground-truth frames (DALI {variant} conversion) emulated "
                "on the CPU; model numerics still come from this CPU, so this approximates (does not reproduce) "
                "the T4's score. The emulation equals DALI's own CPU kernels bit for bit (host arithmetic), and is "
                "not yet checked on a GPU (see `vcc dali-verify`)"
            ),
        ),
    )
}

# `--decode both`: the CPU runner's target and the T4 runner's, in one run.
DECODE_CHOICES = (*DECODE_TARGETS, "both")


def decode_target(name: str) -> DecodeTarget:
    """The record of a target by name (a report's `decode`, a cache key's part before ':')."""
    try:
        return DECODE_TARGETS[name]
    except KeyError:
        from vcc.base import HarnessError

        raise HarnessError(f"decode path {name!r} is not available in this build",
                           fix=f"use one of {', '.join(DECODE_TARGETS)}") from None


def frame_converter(key_part: str) -> Callable[[Any], Any]:
    """The per-frame conversion a cache key's decode part names ("pyav", "dali-emulated:1.52")."""
    name, _, qualifier = key_part.partition(":")
    target = decode_target(name)
    return target.converter(qualifier) if target.variant_in_key else target.converter("")


def runner_target(decode: str, *, cuda: bool) -> str:
    """The target scored for a runner whose ground truth is `decode`: its CPU stand-in where it
    needs CUDA and there is none."""
    target = DECODE_TARGETS[decode]
    return str(target.cpu_stand_in) if target.needs_cuda and not cuda and target.cpu_stand_in else decode


def targets_for(decode: str, *, cuda: bool) -> list[str]:
    """The targets `--decode` scores against on this device: `both` is every public runner's
    target (pyav and dali; without CUDA, dali's CPU stand-in)."""
    if decode != "both":
        return [decode]
    from vcc.base import RUNNERS

    return [runner_target(shape.decode, cuda=cuda) for shape in RUNNERS.values()]
