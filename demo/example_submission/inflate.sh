#!/usr/bin/env bash
# vcc demo example submission: inflate (the official argv).
# usage: bash inflate.sh ARCHIVE_DIR INFLATED_DIR NAMES_FILE
# Writes INFLATED_DIR/<base>.raw for every <base>.<ext> in NAMES_FILE.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/inflate.py" "$@"
