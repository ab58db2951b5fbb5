"""The two official networks (SegNet, PoseNet), rebuilt from their description.

State-dict keys equal the official weight files' keys, so weights load strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vcc.base import BadInput

from ._shapes import MODEL_INPUT_HW, POSE_DIMS, POSE_INPUT_HW, SEG_CLASSES

__all__ = [
    "MODEL_INPUT_HW",
    "POSE_INPUT_HW",
    "POSE_DIMS",
    "SEG_CLASSES",
    "PoseNet",
    "build_segnet",
    "build_posenet",
    "load_weights",
    "load_nets",
]


class AllNorm(nn.Module):
    """BatchNorm1d over every element of x as one channel."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(1, eps=0.001, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.view(-1, 1)).view(x.shape)


class ResBlock(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        f, f2 = features, 2 * features
        self.block_a = nn.Sequential(nn.Linear(f, f2), AllNorm(), nn.ReLU(), nn.Linear(f2, f), AllNorm())
        self.block_b = nn.Sequential(
            nn.ReLU(), nn.Linear(f, f2), AllNorm(), nn.ReLU(), nn.Linear(f2, f), AllNorm()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The official block_b opens with ReLU(inplace=True), which rectifies `a` itself
        # before the residual sum: out = relu(relu(a) + block_b(a)). Keep that.
        a = torch.relu(x + self.block_a(x))
        return torch.relu(a + self.block_b(a))


class Hydra(nn.Module):
    """A shared ResBlock, then one small head per output ('pose' is the only head)."""

    heads = {"pose": (32, 12)}

    def __init__(self, features: int) -> None:
        super().__init__()
        self.resblock = ResBlock(features)
        self.in_layer = nn.ModuleDict()
        self.res_layer = nn.ModuleDict()
        self.final_layer = nn.ModuleDict()
        for name, (hidden, out) in self.heads.items():
            self.in_layer[name] = nn.Linear(features, hidden)
            self.res_layer[name] = nn.Sequential(
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)
            )
            self.final_layer[name] = nn.Linear(hidden, out)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.resblock(x)
        outputs = {}
        for name in self.heads:
            h = torch.relu(self.in_layer[name](x))
            h = torch.relu(h + self.res_layer[name](h))
            outputs[name] = self.final_layer[name](h)
        return outputs


class PoseNet(nn.Module):
    """fastvit_t12 on 12 YUV6 channels (two frames), a summarizer MLP, a Hydra head."""

    def __init__(self) -> None:
        super().__init__()
        import timm

        self.register_buffer("_mean", torch.full((1, 12, 1, 1), 127.5))
        self.register_buffer("_std", torch.full((1, 12, 1, 1), 63.75))
        self.vision = timm.create_model(
            "fastvit_t12",
            pretrained=False,
            num_classes=2048,
            in_chans=12,
            act_layer=timm.layers.get_act_layer("gelu_tanh"),
        )
        self.summarizer = nn.Sequential(nn.Linear(2048, 512), nn.ReLU(), ResBlock(512))
        self.hydra = Hydra(512)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self._mean) / self._std
        return self.hydra(self.summarizer(self.vision(x)))


def build_segnet() -> nn.Module:
    """smp U-Net on a timm efficientnet_b2 encoder, 5 classes, raw logits."""
    import segmentation_models_pytorch as smp

    return smp.Unet("tu-efficientnet_b2", classes=SEG_CLASSES, activation=None, encoder_weights=None)


def build_posenet() -> PoseNet:
    return PoseNet()


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a safetensors state dict strictly, naming mismatching keys on failure.

    BatchNorm's `num_batches_tracked` may be absent (the official posenet file lacks
    them); torch's BatchNorm loader accepts that, as in the official code.
    """
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for a corrupt header
        raise BadInput(
            f"cannot read weights: {exc}",
            path=path,
            fix="re-download the weights (git lfs pull in the challenge checkout)",
        ) from exc
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    shape_mismatch = sorted(
        k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shape_mismatch:
        parts = []
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatch", shape_mismatch),
        ):
            if keys:
                shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
                parts.append(f"{label}: {shown}")
        raise BadInput(
            f"weights do not fit the {type(model).__name__} architecture; " + "; ".join(parts),
            path=path,
            fix="use the challenge's own models/*.safetensors (segnet for SegNet, posenet for PoseNet)",
        )
    model.load_state_dict(state, strict=True)
    return model


def load_nets(models_dir: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, PoseNet]:
    """Build both nets, load `segnet.safetensors` and `posenet.safetensors`, eval mode."""
    segnet = load_weights(build_segnet(), models_dir / "segnet.safetensors")
    posenet = load_weights(build_posenet(), models_dir / "posenet.safetensors")
    return segnet.eval().to(device), posenet.eval().to(device)
