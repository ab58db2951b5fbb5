#!/usr/bin/env bash
# vcc demo example submission: compress.
# usage: bash compress.sh VIDEOS_DIR SUBMISSION_DIR NAMES_FILE
# Writes SUBMISSION_DIR/archive.zip: each listed video downscaled and re-encoded with x265.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/compress.py" "$@"
