"""The demo, above every other part: a synthetic stand-in challenge, an example submission, `run_demo`.

Everything here stands in for the official assets: a dashcam-like synthetic HEVC video and
seeded random nets whose BatchNorm statistics are calibrated on that video. Scores on it say
nothing about the leaderboard; they show the whole pipeline (runner, scorer) working offline.
Modules: _scene (the synthetic original), _fixture (the challenge and its cache), _example (the
example submission and `run_demo`). Names load on first use, so `vcc --help` stays torch-free.
"""

from __future__ import annotations

from vcc.base import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "._scene": ("DEMO_BUILDER_VERSION", "DEMO_DEFAULT_FRAMES", "DEMO_FPS", "DemoScene", "rgb_to_yuv420"),
    "._fixture": ("build_challenge", "cached_challenge", "calibrate_batchnorm", "demo_cache_dir"),
    "._example": ("build_example_submission", "example_submission_files", "run_demo"),
}

__all__ = [name for names in _EXPORTS.values() for name in names]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
