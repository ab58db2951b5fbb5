"""The ground-truth targets a score can be computed against (torch-free: the CLI's choices).

pyav: the CPU runner's decode. dali: the T4 runner's (real DALI on CUDA). dali-emulated: DALI's
RGB conversion computed on the CPU. both: pyav and the DALI target in one run.
"""

from __future__ import annotations

__all__ = ["DECODE_CHOICES", "DALI_VARIANTS"]

DECODE_CHOICES = ("pyav", "dali", "dali-emulated", "both")

# "1.52": the official lock's nvidia-dali-cuda120==1.52.0. "post-6076": releases after
# NVIDIA/DALI PR #6076 (Nov 2025), whose kernel keeps chroma in float. The DALI version
# changes the T4 runner's target, so both stay selectable.
DALI_VARIANTS = ("1.52", "post-6076")
