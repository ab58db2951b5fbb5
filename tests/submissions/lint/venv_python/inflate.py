import sys
from pathlib import Path

if __name__ == "__main__":
    archive, out, names = sys.argv[1:4]
    for name in Path(names).read_text().split():
        (Path(out) / f"{Path(name).stem}.raw").write_bytes((Path(archive) / "x").read_bytes())
