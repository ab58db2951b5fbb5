#!/usr/bin/env bash
# An inflate.sh in the official repository's style: the work is a module run from the
# repository root, so it can import the root's frame_utils.
set -euo pipefail
name="$(basename "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)")"
python -m "submissions.${name}.inflate" "$@"
