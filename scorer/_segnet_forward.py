"""SegNet's forward with each activation let go as soon as its last reader has run.

smp's U-Net forward keeps, through the whole decoder, the encoder's input (the first entry of
its feature list), every skip connection already used, the previous block's output while a
block runs (the caller's local) and a block's input through both of its convolutions (the
call's argument tuple). At batch 16 on 384x512 that is ~210 MB more resident at the forward's
peak, the last block's first convolution. This forward calls the same modules, with the same
arguments, in the same order, so every kernel computes the same bits; only the references
differ. `releases_memory(model)` says whether the model has the layout it relies on (else the
plain forward runs); tests compare its logits with the plain forward's, bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["releases_memory", "segnet_logits"]


def _is_conv_bn_relu(block: nn.Module) -> bool:
    layers = list(block.children())
    return (isinstance(block, nn.Sequential) and len(layers) == 3 and isinstance(layers[0], nn.Conv2d)
            and isinstance(layers[1], nn.BatchNorm2d) and isinstance(layers[2], nn.ReLU))


def _is_identity_attention(module: nn.Module) -> bool:
    return isinstance(getattr(module, "attention", None), nn.Identity)


def releases_memory(model: nn.Module) -> bool:
    """True for the official SegNet's layout: an smp Unet on a timm features encoder (input as
    its first feature), no centre block, no attention, plain conv-BN-ReLU blocks, a conv head."""
    try:
        from segmentation_models_pytorch import Unet
        from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder, UnetDecoderBlock
        from segmentation_models_pytorch.encoders.timm_universal import TimmUniversalEncoder
    except ImportError:
        return False
    if not isinstance(model, Unet) or getattr(model, "classification_head", None) is not None:
        return False
    encoder, decoder, head = model.encoder, model.decoder, model.segmentation_head
    if not isinstance(encoder, TimmUniversalEncoder) or not isinstance(decoder, UnetDecoder):
        return False
    if (getattr(encoder, "_is_channel_last", True) or getattr(encoder, "_is_transformer_style", True)
            or getattr(encoder, "_is_vgg_style", True)):
        return False
    head_layers = list(head.children())
    return (isinstance(decoder.center, nn.Identity)
            and all(isinstance(b, UnetDecoderBlock) and _is_conv_bn_relu(b.conv1) and _is_conv_bn_relu(b.conv2)
                    and _is_identity_attention(b.attention1) and _is_identity_attention(b.attention2)
                    for b in decoder.blocks)
            and len(head_layers) == 3 and isinstance(head_layers[0], nn.Conv2d)
            and all(isinstance(m, nn.Identity) or _is_identity_attention(m) or
                    isinstance(getattr(m, "activation", None), nn.Identity) for m in head_layers[1:]))


def _layers(x: torch.Tensor, layers: nn.Module) -> torch.Tensor:
    # Rebinding `x` drops each input the moment its layer has returned.
    for layer in layers:
        x = layer(x)
    return x


def segnet_logits(model: nn.Module, box: list[torch.Tensor]) -> torch.Tensor:
    """The plain `model(x)` for a model `releases_memory` accepts, x handed over in a one-item
    list (emptied here, so no caller keeps it alive)."""
    x = box.pop()
    model.check_input_shape(x)
    sizes = [tuple(x.shape[2:])]
    stack = model.encoder.model(x)  # the features after the input; the input is only a size here
    del x
    sizes += [tuple(f.shape[2:]) for f in stack]
    sizes.reverse()
    x = model.decoder.center(stack.pop())  # the deepest feature
    for i, block in enumerate(model.decoder.blocks):
        height, width = sizes[i + 1]
        x = F.interpolate(x, size=(height, width), mode=block.interpolation_mode)
        if stack:
            x = torch.cat([x, stack.pop()], dim=1)
            x = block.attention1(x)
        x = _layers(x, block.conv1)
        x = _layers(x, block.conv2)
        x = block.attention2(x)
    return _layers(x, model.segmentation_head)
