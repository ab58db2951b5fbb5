"""The CPU's lean path against the official shapes it replaces, bit for bit.

The lean path makes the nets' inputs pair by pair and runs SegNet with a forward that lets each
activation go after its last use. Both are checked here against their reference: the
whole-batch inputs and smp's own `model(x)`, on the golden video and weights, for a full and a
partial batch, and (slow) under the other kernel caps this CPU can take. That references are
really let go is checked with weak references, not with memory figures (those are the bench's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from vcc.base import HarnessError
from vcc.scorer import iter_rgb_frames, load_nets
from vcc.scorer._distortion import ModelInputs, forward_side, inputs_of_batch, inputs_of_pairs
from vcc.scorer._segnet_forward import releases_memory, segnet_logits
from vcc.scorer._streams import _frame_batches, candidate_inputs, truth_inputs

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def golden_frames(golden_challenge: Path) -> list[np.ndarray]:
    return list(iter_rgb_frames(golden_challenge / "videos" / "0.mkv"))


@pytest.fixture(scope="module")
def nets(golden_challenge: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    return load_nets(golden_challenge / "models")


def _batch(frames: list[np.ndarray], first_pair: int, size: int) -> torch.Tensor:
    chosen = frames[2 * first_pair: 2 * (first_pair + size)]
    return torch.from_numpy(np.stack(chosen).reshape(size, 2, *chosen[0].shape).copy())


def _pairs(batch: torch.Tensor):
    return (batch[i: i + 1] for i in range(len(batch)))


@pytest.mark.parametrize("size", [1, 3])
def test_inputs_pair_by_pair_equal_the_whole_batch(golden_frames: list[np.ndarray], size: int) -> None:
    batch = _batch(golden_frames, 30, size)
    whole, by_pair = inputs_of_batch(batch, CPU), inputs_of_pairs(_pairs(batch), size, CPU)
    for a, b in ((whole.take_pose(), by_pair.take_pose()), (whole.take_seg(), by_pair.take_seg())):
        # the layout too: a convolution takes another kernel (other last bits) for another one
        assert torch.equal(a, b) and a.stride() == b.stride()
    assert b.is_contiguous(memory_format=torch.channels_last)  # SegNet's input, as officially


def test_inputs_of_pairs_refuses_a_count_that_is_not_the_batch(golden_frames: list[np.ndarray]) -> None:
    from vcc.scorer._distortion import MissingPairs

    batch = _batch(golden_frames, 0, 2)
    with pytest.raises(MissingPairs, match="1 pairs for a batch of 2"):
        inputs_of_pairs(_pairs(batch[:1]), 2, CPU)
    with pytest.raises(ValueError, match="more than the batch's 1 pairs"):
        inputs_of_pairs(_pairs(batch), 1, CPU)


def test_model_inputs_are_handed_over_once() -> None:
    inputs = ModelInputs(torch.zeros(2, 12, 4, 4), torch.zeros(2, 3, 8, 8))
    assert inputs.size == 2 and inputs.nbytes == (2 * 12 * 16 + 2 * 3 * 64) * 4
    pose = weakref.ref(inputs.take_pose())
    assert pose() is None  # the holder kept no reference
    with pytest.raises(RuntimeError, match="already taken"):
        inputs.take_pose()


def test_releasing_forward_equals_smp_forward(nets, golden_frames: list[np.ndarray]) -> None:
    segnet, _ = nets
    assert releases_memory(segnet)
    seg_in = inputs_of_batch(_batch(golden_frames, 32, 3), CPU).take_seg()  # the golden partial batch
    with torch.inference_mode():
        plain = segnet(seg_in)
        box = [seg_in.clone()]
        lean = segnet_logits(segnet, box)
    assert box == [] and torch.equal(plain, lean)


def test_releasing_forward_lets_go_of_its_input_and_used_skips(nets) -> None:
    """At the peak (the last block's first convolution) only that convolution's input is held:
    not the net's input, not the encoder's features (all used by then), not the block before's
    output."""
    segnet, _ = nets
    x = (torch.rand(1, 3, 384, 512) * 255).to(memory_format=torch.channels_last)  # SegNet's input layout
    watched: dict[str, list[weakref.ref]] = {"input": [weakref.ref(x)], "features": [], "previous block": []}

    def keep_features(module, args, out):
        watched["features"] += [weakref.ref(f) for f in out]

    def keep_previous(module, args, out):
        watched["previous block"] = [weakref.ref(out)]

    alive_at_peak: dict[str, bool] = {}

    def at_peak(module, args):
        alive_at_peak.update({k: any(r() is not None for r in refs) for k, refs in watched.items()})

    blocks = segnet.decoder.blocks
    handles = [segnet.encoder.model.register_forward_hook(keep_features),
               blocks[-2].conv2[2].register_forward_hook(keep_previous),
               blocks[-1].conv1[0].register_forward_pre_hook(at_peak)]
    try:
        with torch.inference_mode():
            box = [x]
            del x
            segnet_logits(segnet, box)
    finally:
        for h in handles:
            h.remove()
    assert len(watched["features"]) == 5 and watched["previous block"]
    assert alive_at_peak == {"input": False, "features": False, "previous block": False}


def test_other_layouts_take_the_plain_forward(nets) -> None:
    import segmentation_models_pytorch as smp

    segnet, posenet = nets
    with_attention = smp.Unet("tu-efficientnet_b0", classes=5, encoder_weights=None, decoder_attention_type="scse")
    with_head = smp.Unet("tu-efficientnet_b0", classes=5, encoder_weights=None, aux_params={"classes": 2})
    assert not releases_memory(with_attention) and not releases_memory(with_head)
    assert not releases_memory(posenet)
    # forward_side(releasing=True) on such a model runs the plain forward: same outputs
    with_attention.eval()
    pose_in, seg_in = torch.zeros(1, 12, 192, 256), torch.rand(1, 3, 64, 64)
    a, b = ModelInputs(pose_in, seg_in), ModelInputs(pose_in.clone(), seg_in.clone())
    out_a = forward_side((with_attention, posenet), a, releasing=True)
    out_b = forward_side((with_attention, posenet), b, releasing=False)
    assert torch.equal(out_a.seg, out_b.seg) and torch.equal(out_a.pose, out_b.pose)


@pytest.mark.parametrize("by_pair", [False, True])
def test_decoding_a_subset_of_batches_gives_those_pairs(mini_challenge: Path, by_pair: bool) -> None:
    from vcc.scorer import pair_batches

    video = mini_challenge / "videos" / "0.mkv"
    every = list(pair_batches(iter_rgb_frames(video), 1))  # 4 frames: 2 batches of 1 pair
    for wanted in ([0, 1], [1], [0]):
        got = list(_frame_batches(video, "sha", "pyav", 2, 1, wanted, CPU, None, by_pair))
        assert len(got) == len(wanted) and all(torch.equal(g, every[w]) for g, w in zip(got, wanted, strict=True))


def test_truth_and_candidate_inputs_equal_on_both_paths(mini_challenge: Path, tmp_path: Path) -> None:
    video = mini_challenge / "videos" / "0.mkv"
    raw = tmp_path / "0.raw"
    raw.write_bytes(b"".join(np.ascontiguousarray(f).tobytes() for f in iter_rgb_frames(video)))
    for wanted in ([0], [0, 1]):
        def truth(by_pair: bool, wanted: list[int] = wanted) -> list[ModelInputs]:
            return list(truth_inputs(video_path=video, video_sha256="sha", conversion="pyav", pairs=2, batch_size=2,
                                     wanted=wanted[:1], device=CPU, by_pair=by_pair))

        def cand(by_pair: bool, wanted: list[int] = wanted) -> list[ModelInputs]:
            return list(candidate_inputs(raw, 4, 1, wanted, CPU, by_pair))

        for make in (truth, cand):
            whole, lean = make(False), make(True)
            assert [i.size for i in whole] == [i.size for i in lean]
            for a, b in zip(whole, lean, strict=True):
                for x, y in ((a.take_pose(), b.take_pose()), (a.take_seg(), b.take_seg())):
                    assert torch.equal(x, y) and x.stride() == y.stride()


def test_a_video_shorter_than_its_container_is_named(mini_challenge: Path) -> None:
    video = mini_challenge / "videos" / "0.mkv"
    with pytest.raises(HarnessError, match=r"0\.mkv decoded to fewer frames than its container counts \(6\)"):
        list(truth_inputs(video_path=video, video_sha256="sha", conversion="pyav", pairs=3, batch_size=3,
                          wanted=[0], device=CPU, by_pair=True))


_CAPS_CHILD = """
import sys
sys.path.insert(0, {root!r})
import numpy as np, torch
from pathlib import Path
from vcc.scorer import iter_rgb_frames, load_nets
from vcc.scorer._distortion import inputs_of_batch, inputs_of_pairs
from vcc.scorer._segnet_forward import segnet_logits
torch.set_num_threads(2)
challenge = Path({challenge!r})
frames = list(iter_rgb_frames(challenge / "videos" / "0.mkv"))[:32]
batch = torch.from_numpy(np.stack(frames).reshape(16, 2, *frames[0].shape).copy())
whole = inputs_of_batch(batch, torch.device("cpu"))
lean = inputs_of_pairs((batch[i:i + 1] for i in range(16)), 16, torch.device("cpu"))
pose, pose_lean = whole.take_pose(), lean.take_pose()
pose_equal = torch.equal(pose, pose_lean) and pose.stride() == pose_lean.stride()
seg_in, seg_lean = whole.take_seg(), lean.take_seg()
seg_equal = torch.equal(seg_in, seg_lean) and seg_in.stride() == seg_lean.stride()
segnet, _ = load_nets(challenge / "models")
with torch.inference_mode():
    forward_equal = torch.equal(segnet(seg_in), segnet_logits(segnet, [seg_in.clone()]))
print(torch.backends.cpu.get_cpu_capability(), pose_equal, seg_equal, forward_equal)
"""


@pytest.mark.slow
@pytest.mark.parametrize("caps", [{}, {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
                                  {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}],
                         ids=["native", "avx2", "default"])
def test_lean_path_equals_the_official_shapes_at_batch_16_under_each_cap(golden_challenge: Path, caps: dict) -> None:
    """A full batch of 16, 2 threads, each in a fresh process under the caps (which must be set
    before torch loads): the kernels each cap selects give the same bits both ways."""
    if caps.get("ATEN_CPU_CAPABILITY") == "avx2" and "avx2" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("this CPU has no AVX2")
    code = _CAPS_CHILD.format(root=str(ROOT), challenge=str(golden_challenge))
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **caps}, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1:] == ["True", "True", "True"], out
