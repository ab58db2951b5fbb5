import sys
from pathlib import Path

from codec.stats import archive_bytes, compress_report


def main(archive: str, out: str, names: str) -> None:
    chunks = sorted(
        Path(archive).glob("*.bin"),
        key=lambda p: int(p.stem),
    )
    print(f"{len(chunks)} chunks, {archive_bytes(Path(archive))} bytes")
    for name in Path(names).read_text().split():
        with open(Path(out) / f"{Path(name).stem}.raw", "wb") as dst:
            for chunk in chunks:
                dst.write(chunk.read_bytes())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        compress_report(Path(sys.argv[2]))
    else:
        main(*sys.argv[1:4])
