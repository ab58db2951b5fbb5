import subprocess
import sys
from pathlib import Path

try:
    import brotli
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "brotli"])
    import brotli

try:
    import zstandard
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "zstandard"])
    import zstandard

if __name__ == "__main__":
    archive, out, names = sys.argv[1:4]
    data = brotli.decompress((Path(archive) / "x").read_bytes())
    print(zstandard)
    for name in Path(names).read_text().split():
        (Path(out) / f"{Path(name).stem}.raw").write_bytes(data)
