#!/usr/bin/env bash
# Buildroot post-build script: completes the root slot in $TARGET_DIR
# and gathers the boot partition's files in $BINARIES_DIR/boot, where
# post-image.sh finds them. Arguments: $1 is the target folder.
set -euo pipefail

target=${1:?usage: post-build.sh TARGET_DIR}
: "${BINARIES_DIR:?run by Buildroot: BINARIES_DIR is not set}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tree=$(cd "$here/../../.." && pwd)

# The mount points every root of the box has (image.Dirs).
for d in dev proc sys run tmp data etc/sipguard sbin; do
	mkdir -p "$target/$d"
done
if [ ! -x "$target/sbin/init" ]; then
	echo "post-build: $target/sbin/init is missing: enable BR2_PACKAGE_SIPGUARD" >&2
	exit 1
fi

# What make image writes to /etc/sipguard/release.
version=$(git -C "$tree" describe --tags --always --dirty 2>/dev/null || echo dev)
kernel=$(find "$BUILD_DIR" -maxdepth 1 -type d -name 'linux-*' ! -name 'linux-headers-*' -print -quit)
release=$(cat "$kernel/include/config/kernel.release" 2>/dev/null || echo unknown)
printf 'version=%s\nboard=rpi4\nkernel=%s\n' "$version" "$release" >"$target/etc/sipguard/release"

# The boot partition: the same names as make image's, no initramfs (the
# kernel has everything the box needs built in and mounts the root slot
# itself).
boot="$BINARIES_DIR/boot"
rm -rf "$boot"
mkdir -p "$boot"
install -m 0644 "$BINARIES_DIR/Image" "$boot/vmlinuz"
for f in start4.elf fixup4.dat config.txt cmdline.txt; do
	install -m 0644 "$BINARIES_DIR/rpi-firmware/$f" "$boot/$f"
done
for f in bcm2711-rpi-4-b.dtb bcm2711-rpi-400.dtb bcm2711-rpi-cm4-io.dtb; do
	install -m 0644 "$BINARIES_DIR/$f" "$boot/$f"
done
