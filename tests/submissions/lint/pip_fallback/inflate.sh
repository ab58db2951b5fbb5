#!/usr/bin/env bash
set -euo pipefail
python3 -c "import brotli" 2>/dev/null || pip install brotli
python3 "$(dirname "$0")/inflate.py" "$@"
