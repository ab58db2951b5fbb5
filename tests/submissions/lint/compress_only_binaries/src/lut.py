from pathlib import Path


def load_lut() -> bytes:
    return (Path(__file__).resolve().parent.parent / "assets" / "lut.bin").read_bytes()
