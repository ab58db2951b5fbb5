import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))

from decoder import decode_all  # noqa: E402

if __name__ == "__main__":
    decode_all(*sys.argv[1:4])
