from pathlib import Path

import brotli
import cv2
import numpy as np
from bitstream import read_header
from frame_utils import yuv_frame_to_rgb

try:
    import scipy.ndimage as ndi
except ImportError:
    ndi = None


def decode_all(archive: str, out: str, names: str) -> None:
    data = brotli.decompress((Path(archive) / "p").read_bytes())
    head = read_header(data)
    frame = np.frombuffer(data[head:], np.uint8)
    print(cv2.resize, ndi, yuv_frame_to_rgb)
    for name in Path(names).read_text().split():
        (Path(out) / f"{Path(name).stem}.raw").write_bytes(frame.tobytes())
