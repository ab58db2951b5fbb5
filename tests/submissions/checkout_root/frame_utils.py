"""Stand-in for the official checkout's root module `frame_utils`: the golden data's exact
integer YUV->RGB conversion from make_candidates.py, which the test places beside this file."""

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parent / "make_candidates.py"
_spec = importlib.util.spec_from_file_location("golden_make_candidates", _path)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)

yuv_frame_to_rgb = _mod.near
