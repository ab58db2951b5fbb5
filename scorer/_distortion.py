"""Nets applied to frame pairs, and the per-sample distortions between two sides.

The ground truth's outputs can be cached and reused (`NetOutputs` holds only
what the distortions need), so the candidate's side is all that runs per score.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    "ModelInputs",
    "MissingPairs",
    "inputs_of_batch",
    "inputs_of_pairs",
    "forward_side",
    "net_outputs",
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


class MissingPairs(RuntimeError):
    """A batch's pairs ran out before its size (a stream shorter than its container said)."""


class ModelInputs:
    """One side's net inputs for one batch, handed over once: each `take_*` leaves this holder
    without the tensor, so a queue or generator that still holds the holder keeps nothing alive."""

    def __init__(self, pose: torch.Tensor, seg: torch.Tensor) -> None:
        self._pose: torch.Tensor | None = pose
        self._seg: torch.Tensor | None = seg
        self.size = int(pose.shape[0])
        self.nbytes = pose.nbytes + seg.nbytes  # what a read-ahead queue holding it is charged

    def take_pose(self) -> torch.Tensor:
        pose, self._pose = self._pose, None
        if pose is None:
            raise RuntimeError("PoseNet's input was already taken")
        return pose

    def take_seg(self) -> torch.Tensor:
        seg, self._seg = self._seg, None
        if seg is None:
            raise RuntimeError("SegNet's input was already taken")
        return seg


def inputs_of_batch(batch: torch.Tensor, device: torch.device) -> ModelInputs:
    """A batch's inputs made from the whole batch at once, as the official loop makes them."""
    with torch.inference_mode():
        return ModelInputs(*net_inputs(batch, device))


def _batch_like(sample: torch.Tensor, size: int) -> torch.Tensor:
    """An empty batch of `size` samples laid out in memory like `sample`'s batch would be.

    The layout matters as much as the values: SegNet's input comes out of the resizing in
    channels-last order (the official permute carries through), and a convolution takes another
    kernel, with other last bits, for another layout."""
    order = sorted(range(sample.dim()), key=lambda d: (d != 0, -sample.stride(d)))  # batch outermost
    empty = torch.empty([size if d == 0 else sample.shape[d] for d in order], dtype=sample.dtype,
                        device=sample.device)
    return empty.permute([order.index(d) for d in range(sample.dim())])


def inputs_of_pairs(pairs: Iterable[torch.Tensor], size: int, device: torch.device) -> ModelInputs:
    """A batch's inputs made pair by pair from `size` uint8 (1, 2, H, W, 3) pairs, into tensors of
    the batch's shape: ~30 MB of float copies at a time instead of ~390 MB.

    Every step is per sample (a dtype copy, bilinear resizing, per-pixel YUV arithmetic), so each
    sample's values are those the whole batch gives it, and the batch keeps the whole batch's
    memory layout: tests check values and strides against `inputs_of_batch`, and the scorer's
    reference loop keeps the whole-batch form."""
    pose: torch.Tensor | None = None
    seg: torch.Tensor | None = None
    done = 0
    with torch.inference_mode():
        for pair in pairs:
            p, s = net_inputs(pair, device)
            if pose is None or seg is None:
                pose, seg = _batch_like(p, size), _batch_like(s, size)
            if done >= size:
                raise ValueError(f"more than the batch's {size} pairs")
            pose[done : done + len(p)] = p
            seg[done : done + len(s)] = s
            done += len(p)
            del p, s, pair
    if done != size or pose is None or seg is None:
        raise MissingPairs(f"{done} pairs for a batch of {size}")
    return ModelInputs(pose, seg)


def forward_side(nets: tuple[nn.Module, nn.Module], inputs: ModelInputs, releasing: bool = False) -> NetOutputs:
    """Both nets on one side's inputs: PoseNet, then SegNet, whose input is the only one resident
    through its forward (the peak). `releasing`: SegNet's forward that lets each activation go
    after its last use (same bits; see _segnet_forward), where the model's layout allows it."""
    from ._segnet_forward import releases_memory, segnet_logits

    segnet, posenet = nets
    with torch.inference_mode():
        pose = posenet(inputs.take_pose())["pose"][:, :POSE_DIMS].contiguous()
        if releasing and releases_memory(segnet):
            logits = segnet_logits(segnet, [inputs.take_seg()])
        else:
            logits = segnet(inputs.take_seg())
        seg = logits.argmax(dim=1).to(torch.uint8)
        del logits
    return NetOutputs(pose=pose, seg=seg)


def net_outputs(segnet: nn.Module, posenet: nn.Module, batch: torch.Tensor) -> NetOutputs:
    """Run both nets on a uint8 (B, 2, H, W, 3) batch of pairs, as the official loop does."""
    device = next(posenet.parameters()).device
    inputs = inputs_of_batch(batch, device)
    del batch
    return forward_side((segnet, posenet), inputs)


def pose_distortion(a: NetOutputs, b: NetOutputs) -> torch.Tensor:
    """Per-sample mean squared difference of the first 6 pose outputs (float32, (B,))."""
    return (a.pose - b.pose).pow(2).mean(dim=-1)


def seg_distortion(a: NetOutputs, b: NetOutputs) -> torch.Tensor:
    """Per-sample fraction of pixels whose argmax class differs (float32, (B,))."""
    return (a.seg != b.seg).float().mean(dim=(1, 2))
