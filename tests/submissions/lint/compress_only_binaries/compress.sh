#!/usr/bin/env bash
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python3 "$HERE/tools/fit.py" --teacher "$HERE/tools/teacher.pt" "$@"
