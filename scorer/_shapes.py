"""The nets' fixed geometry, torch-free (reports and marginal costs need it without loading the nets)."""

from __future__ import annotations

__all__ = ["MODEL_INPUT_HW", "POSE_INPUT_HW", "POSE_DIMS", "SEG_CLASSES", "SEG_PIXELS"]

MODEL_INPUT_HW = (384, 512)  # both nets see frames resized to this
POSE_INPUT_HW = (192, 256)  # rgb_to_yuv6 halves each side
POSE_DIMS = 6  # the distortion compares the first 6 of PoseNet's 12 outputs
SEG_CLASSES = 5
SEG_PIXELS = MODEL_INPUT_HW[0] * MODEL_INPUT_HW[1]  # pixels of one SegNet map: one pair's distortion denominator
