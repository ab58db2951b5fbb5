"""Official-style inflate, run from the repository root as
`python -m submissions.<name>.inflate ARCHIVE_DIR INFLATED_DIR NAMES_FILE`.

The archive holds the video stream itself as member `v`; frames are converted with the
repository root's frame_utils (the golden data's integer "near" conversion).
"""

import sys
from pathlib import Path

import av
from frame_utils import yuv_frame_to_rgb


def main(archive_dir: str, inflated_dir: str, names_file: str) -> None:
    out_dir = Path(inflated_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in Path(names_file).read_text().split():
        raw = out_dir / f"{Path(name).stem}.raw"
        with av.open(str(Path(archive_dir) / "v")) as src, open(raw, "wb") as dst:
            for frame in src.decode(video=0):
                dst.write(yuv_frame_to_rgb(frame).tobytes())


if __name__ == "__main__":
    main(*sys.argv[1:4])
