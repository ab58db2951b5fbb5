"""`vcc dali-verify --bundle OUT.tar`: every T4-axis figure one machine can measure, in one archive.

For whoever has a GPU (and for any machine, with what it can run): the frame comparison of real
DALI against both emulations on the challenge video (GPU), DALI's CPU kernels against the
emulation's host arithmetic (any machine with DALI installed), the decode x device grid on a
candidate, and the versions. Written to a temporary file beside OUT.tar and renamed: a failed
run leaves no half archive.
"""

from __future__ import annotations

import io
import json
import platform
import tarfile
import time
from pathlib import Path
from typing import Any

from vcc.base import HarnessError, installed_dali_version, write_atomic

__all__ = ["BUNDLE_MEMBERS", "write_bundle", "bundle_outcome"]

BUNDLE_MEMBERS = ("summary.txt", "versions.json", "frames.json", "oracle.json", "grid.json", "grid.txt")


def _versions() -> dict[str, Any]:
    import torch

    from vcc import __version__

    from ._score import library_versions

    out: dict[str, Any] = {"vcc": __version__, "dali": installed_dali_version(), **library_versions(),
                           "platform": platform.platform(), "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        out["cuda"] = torch.version.cuda
    return out


def _frames(video: Path, device: str, max_frames: int | None) -> dict[str, Any]:
    """Real DALI against both emulations, or why it could not run here."""
    from ._dali_verify import verify_dali

    try:
        return {"ran": True, **verify_dali(video, None, device, max_frames)}
    except HarnessError as exc:  # no CUDA, no DALI, a DALI version without a model
        return {"ran": False, "why": str(exc), "fix": exc.fix}


def _oracle(video: Path, max_frames: int | None) -> dict[str, Any]:
    """DALI's CPU kernels against the emulation's host arithmetic, or why not (DALI missing)."""
    from ._dali_oracle import chroma_oracle, frame_oracle, matrix_oracle

    try:
        matrix = matrix_oracle()
        return {"ran": True, "chroma": chroma_oracle(video, max_frames), "matrix": matrix,
                "frames": frame_oracle(video, max_frames)}
    except HarnessError as exc:
        return {"ran": False, "why": str(exc), "fix": exc.fix}


def bundle_outcome(frames: dict[str, Any], oracle: dict[str, Any], grid: dict[str, Any] | None) -> list[str]:
    """What the figures say, one line each (the README's table explains every line)."""
    lines = []
    if frames.get("ran"):
        lines.append(f"frames: DALI {frames['dali_version']} (conversion {frames['conversion_for_version']}): "
                     f"{frames['verdict']}")
    else:
        lines.append(f"frames: not compared: {frames['why']}")
    if oracle.get("ran"):
        m, c, f = oracle["matrix"], oracle["chroma"], oracle["frames"]
        exact = m["host_bit_exact"] and c["bit_exact"] and f["bit_exact"]
        lines.append(f"oracle: DALI {m['dali_version']} CPU kernels vs host arithmetic: "
                     f"{'bit exact' if exact else 'MISMATCH'} (chroma {c['float_mismatches']} of {c['samples']}, "
                     f"matrix {m['host_mismatches']} of {m['triples']}, frames {f['host_mismatches']} of "
                     f"{f['bytes']}); device arithmetic differs on {m['device_differing_triples']} triples, "
                     f"{f['device_vs_host_bytes']} bytes of these frames")
    else:
        lines.append(f"oracle: not run: {oracle['why']}")
    if grid is not None:
        from ._grid import grid_text

        lines.append(grid_text(grid))
    return lines


def _member(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
    tar.addfile(info, io.BytesIO(data))


def write_bundle(out: Path, video: Path, grid_cfg: Any | None, device: str = "cuda",
                 max_frames: int | None = None) -> dict[str, Any]:
    """Measure everything this machine can and write OUT.tar atomically; returns the figures.

    `grid_cfg`: a ScoreConfig of the candidate for the grid, or None for no grid.
    """
    out = Path(out)
    if out.suffix != ".tar":
        from vcc.base import BadInput

        raise BadInput("the bundle is a tar archive", path=out, fix="name it OUT.tar")
    from ._container import iter_yuv_frames

    next(iter_yuv_frames(Path(video)), None)  # a stream that is not 8-bit 4:2:0 is refused before anything runs
    versions = _versions()
    frames = _frames(video, device, max_frames)
    oracle = _oracle(video, max_frames)
    grid = None
    if grid_cfg is not None:
        from ._grid import grid_text, score_grid

        grid = score_grid(grid_cfg)
    summary = "\n".join([f"vcc dali-verify --bundle: {video}", *bundle_outcome(frames, oracle, grid)]) + "\n"
    contents = {
        "summary.txt": summary,
        "versions.json": versions,
        "frames.json": frames,
        "oracle.json": oracle,
        "grid.json": grid if grid is not None else {"ran": False, "why": "no --candidate given"},
        "grid.txt": grid_text(grid) + "\n" if grid is not None else "no --candidate given\n",
    }
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in BUNDLE_MEMBERS:
            value = contents[name]
            data = value.encode() if isinstance(value, str) else (json.dumps(value, indent=2) + "\n").encode()
            _member(tar, name, data, now)
    write_atomic(out, buf.getvalue())
    return {"summary": summary, "versions": versions, "frames": frames, "oracle": oracle, "grid": grid}
