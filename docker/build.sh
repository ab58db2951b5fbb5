#!/usr/bin/env bash
# Build (or reuse) vcc's Docker image for a runner kind and print its tag.
#
# Usage: docker/build.sh cpu|t4
#   VCC_DOCKER_PROFILE=local docker/build.sh cpu   # no registry / PyTorch index (README.md)
#
# Same code path as `vcc run --backend docker`: runner/_docker.py ensure_image.
set -euo pipefail
kind="${1:?usage: docker/build.sh cpu|t4}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
[ -x "$python" ] || python=python3
cd "$here"
exec "$python" -c 'import sys
from vcc.runner._docker import ensure_image
from vcc.base import VccError
try:
    print(ensure_image(sys.argv[1]))
except VccError as err:
    print(f"docker/build.sh: error: {err.render()}", file=sys.stderr)
    sys.exit(err.exit_code)' "$kind"
