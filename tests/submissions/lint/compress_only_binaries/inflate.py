import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
from lut import load_lut

if __name__ == "__main__":
    archive, out, names = sys.argv[1:4]
    table = load_lut()
    for name in Path(names).read_text().split():
        (Path(out) / f"{Path(name).stem}.raw").write_bytes(table[:16])
