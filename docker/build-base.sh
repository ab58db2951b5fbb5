#!/usr/bin/env bash
# Build a local Debian bookworm base image (Python 3.11) without any image registry.
#
# Usage: sudo docker/build-base.sh [IMAGE_NAME] [MIRROR]
#   IMAGE_NAME defaults to vcc-base:bookworm, MIRROR to http://deb.debian.org/debian.
#
# The official Dockerfiles start from python:3.11-slim-bookworm pinned by digest. Where no
# registry can be reached, this script makes a stand-in with debootstrap + `docker import`:
# same Debian release, same Python minor version (Debian's python3 is 3.11), python3-venv so
# the Dockerfile's `python3 -m venv` works on both bases. Needs root, debootstrap and docker.
set -euo pipefail

image="${1:-vcc-base:bookworm}"
mirror="${2:-http://deb.debian.org/debian}"

for tool in debootstrap docker tar; do
    command -v "$tool" >/dev/null || { echo "build-base.sh: '$tool' not found (apt-get install -y debootstrap docker.io)" >&2; exit 2; }
done
if [ "$(id -u)" != 0 ]; then
    echo "build-base.sh: debootstrap needs root" >&2
    exit 2
fi

root="$(mktemp -d /var/tmp/vcc-base.XXXXXX)"
trap 'rm -rf --one-file-system "$root"' EXIT
# mktemp makes the directory 0700; it becomes the image's "/", which every user must traverse.
chmod 0755 "$root"

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror"

# Same apt sources a container sees in the official Debian images.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF

# Keep the image lean: vfs copies every layer in full.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/*.log \
    "$root"/tmp/* "$root"/var/tmp/*
# A stale machine-id would be shared by every container built from this base.
: >"$root/etc/machine-id"

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap bookworm minbase + python3, python3-venv (vcc docker/build-base.sh)" \
    - "$image"

docker run --rm --network none --user 65534:65534 "$image" \
    python3 -c 'import sys, venv; print("base python", sys.version.split()[0], "runs as non-root")'
echo "built $image"
