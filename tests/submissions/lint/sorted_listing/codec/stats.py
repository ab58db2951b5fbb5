from pathlib import Path


def archive_bytes(archive: Path) -> int:
    return sum(p.stat().st_size for p in archive.iterdir())


def compress_report(out_dir: Path) -> None:
    sizes = [p.stat().st_size for p in out_dir.iterdir()]
    for s in sizes:
        print(s)
