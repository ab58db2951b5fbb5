"""Nets applied to frame pairs, and the per-sample distortions between two sides.

The ground truth's outputs can be cached and reused (`NetOutputs` holds only
what the distortions need), so the candidate's side is all that runs per score.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._nets import MODEL_INPUT_HW, POSE_DIMS

__all__ = [
    "NetOutputs",
    "to_model_input",
    "segnet_input",
    "posenet_input",
    "rgb_to_yuv6",
    "net_inputs",
    "net_outputs",
    "outputs_of",
    "pose_distortion",
    "seg_distortion",
]


@dataclass(frozen=True)
class NetOutputs:
    """Per-sample outputs of one side: PoseNet's first 6 values, SegNet's argmax map."""

    pose: torch.Tensor  # float32 (B, 6)
    seg: torch.Tensor  # uint8 (B, 384, 512)

    def __len__(self) -> int:
        return self.pose.shape[0]


def to_model_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 2, H, W, 3) -> float32 (B, 2, 3, H, W), as a permuted view's copy."""
    return batch.permute(0, 1, 4, 2, 3).float()


def segnet_input(x: torch.Tensor) -> torch.Tensor:
    """The last frame of each pair, resized to the nets' input size; raw 0..255 values."""
    return F.interpolate(x[:, -1], size=MODEL_INPUT_HW, mode="bilinear")


def rgb_to_yuv6(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 6, H/2, W/2): four luma phases, subsampled U and V."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    y = (r * 0.299 + g * 0.587 + b * 0.114).clamp(0, 255)
    u = ((b - y) / 1.772 + 128).clamp(0, 255)
    v = ((r - y) / 1.402 + 128).clamp(0, 255)

    def subsample(c: torch.Tensor) -> torch.Tensor:
        # This addition order is the official one; another order changes last bits.
        return (c[:, 0::2, 0::2] + c[:, 1::2, 0::2] + c[:, 0::2, 1::2] + c[:, 1::2, 1::2]) * 0.25

    return torch.stack(
        [y[:, 0::2, 0::2], y[:, 1::2, 0::2], y[:, 0::2, 1::2], y[:, 1::2, 1::2], subsample(u), subsample(v)],
        dim=1,
    )


def posenet_input(x: torch.Tensor) -> torch.Tensor:
    """Both frames resized, each to YUV6, concatenated frame0 then frame1: (B, 12, 192, 256)."""
    b, t = x.shape[:2]
    frames = F.interpolate(x.flatten(0, 1), size=MODEL_INPUT_HW, mode="bilinear")
    yuv6 = rgb_to_yuv6(frames)
    return yuv6.reshape(b, t * yuv6.shape[1], *yuv6.shape[2:])


def net_inputs(batch: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """PoseNet's and SegNet's inputs from a uint8 (B, 2, H, W, 3) batch of pairs."""
    x = to_model_input(batch.to(device))
    return posenet_input(x), segnet_input(x)  # the full-size float copy (~390 MB at batch 16) dies here


def net_outputs(segnet: nn.Module, posenet: nn.Module, batch: torch.Tensor) -> NetOutputs:
    """Run both nets on a uint8 (B, 2, H, W, 3) batch of pairs."""
    return next(outputs_of((segnet, posenet), iter([batch])))


def outputs_of(nets: tuple[nn.Module, nn.Module], batches: Iterable[torch.Tensor]) -> Iterator[NetOutputs]:
    """`net_outputs` of each batch, the same operations in the same order; each uint8 batch (98 MB
    at batch 16) is let go once its inputs are made and PoseNet's input once PoseNet ran, so
    neither is resident through SegNet's forward (the peak), nor through the other side's
    forwards while this generator waits."""
    segnet, posenet = nets
    device = next(posenet.parameters()).device
    for batch in batches:
        with torch.inference_mode():
            pose_in, seg_in = net_inputs(batch, device)
            del batch
            pose = posenet(pose_in)["pose"][:, :POSE_DIMS]
            del pose_in
            seg = segnet(seg_in).argmax(dim=1).to(torch.uint8)
            del seg_in
            out = NetOutputs(pose=pose.contiguous(), seg=seg)
        del pose, seg
        yield out


def pose_distortion(a: NetOutputs, b: NetOutputs) -> torch.Tensor:
    """Per-sample mean squared difference of the first 6 pose outputs (float32, (B,))."""
    return (a.pose - b.pose).pow(2).mean(dim=-1)


def seg_distortion(a: NetOutputs, b: NetOutputs) -> torch.Tensor:
    """Per-sample fraction of pixels whose argmax class differs (float32, (B,))."""
    return (a.seg != b.seg).float().mean(dim=(1, 2))
