#!/usr/bin/env bash
# Buildroot post-image script: lays out the SD card with the very layout
# file make image uses (image/genimage.cfg), from the root slot
# ($TARGET_DIR) and the boot files post-build.sh gathered. The card is
# $BINARIES_DIR/sipguard-rpi4.img.
set -euo pipefail

: "${BINARIES_DIR:?run by Buildroot: BINARIES_DIR is not set}"
: "${TARGET_DIR:?run by Buildroot: TARGET_DIR is not set}"
: "${BUILD_DIR:?run by Buildroot: BUILD_DIR is not set}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
layout="$here/../../../image/genimage.cfg"

# genimage takes the card's content from one folder: its boot/ becomes
# the boot partition (mountpoint "/boot"), the rest the root slots.
work="$BUILD_DIR/sipguard-card"
rm -rf "$work"
mkdir -p "$work/root" "$work/images"
rsync -a --exclude=/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM "$TARGET_DIR/" "$work/root/"
mkdir -p "$work/root/boot"
cp -a "$BINARIES_DIR/boot/." "$work/root/boot/"

# Reproducible, as make image: every file dated SOURCE_DATE_EPOCH.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$here/../../.." log -1 --format=%ct 2>/dev/null || echo 0)}
find "$work/root" -exec touch -h -d "@$epoch" {} +

SOURCE_DATE_EPOCH=$epoch TZ=UTC genimage \
	--config "$layout" \
	--rootpath "$work/root" \
	--tmppath "$work/tmp" \
	--inputpath "$work/images" \
	--outputpath "$work/images"
mv "$work/images/sipguard.img" "$BINARIES_DIR/sipguard-rpi4.img"
echo "post-image: $BINARIES_DIR/sipguard-rpi4.img"
