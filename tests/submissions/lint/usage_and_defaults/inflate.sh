#!/usr/bin/env bash
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$#" -ne 3 ]; then
  echo "usage: inflate.sh ARCHIVE_DIR OUT_DIR NAMES (never reads videos/0.mkv)" >&2
  exit 2
fi
python3 "$HERE/inflate.py" --mode inflate --archive "$1" --out "$2" --names "$3"
