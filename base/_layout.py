"""The challenge's fixed layout: file names, frame geometry of a .raw and the official assets' fingerprints."""

from __future__ import annotations

__all__ = [
    "ARCHIVE_NAME",
    "NAMES_FILE",
    "FRAME_H",
    "FRAME_W",
    "FRAME_BYTES",
    "OFFICIAL_ASSETS",
    "OFFICIAL_ORIGINAL_BYTES",
    "OFFICIAL_BATCH_SIZE",
]

# The submission's one metered file, and the checkout's list of videos to score (inflate's $3).
ARCHIVE_NAME = "archive.zip"
NAMES_FILE = "public_test_video_names.txt"

FRAME_H, FRAME_W = 874, 1164
FRAME_BYTES = FRAME_H * FRAME_W * 3  # one uint8 RGB frame in a .raw

# The official checkout's Git LFS content: byte size and sha256 of each file (a checkout without
# `git lfs pull` holds ~130-byte pointer files instead).
OFFICIAL_ASSETS: dict[str, tuple[int, str]] = {
    "videos/0.mkv": (37_545_489, "2611f5f3e186f3529777749f97bd4cce3a208d6b3559e137bd45d256980d2fa9"),
    "models/segnet.safetensors": (
        38_502_892,
        "68956e328d4c5d875389a1a444870e6bac1c052c9986123827af95c07c6991b6",
    ),
    "models/posenet.safetensors": (
        55_835_560,
        "0f3a0874c5c387f990d7b88bd1d7e1f6de35d98b45f2a289989db2c77b9b6576",
    ),
}

# The rate's denominator on the leaderboard: evaluate.py sums the sizes of every file under
# videos/, which officially holds 0.mkv alone.
OFFICIAL_ORIGINAL_BYTES = OFFICIAL_ASSETS["videos/0.mkv"][0]

# evaluate.py's --batch-size default: pairs per step of the official loop. The float32 sums are
# taken per batch, so the score's last bits depend on it.
OFFICIAL_BATCH_SIZE = 16
