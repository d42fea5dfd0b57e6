#!/usr/bin/env bash
# Downloads the arm64 kernel and the Raspberry Pi boot firmware from Debian
# and unpacks them (never installs them) under $1 (default out/debs):
#   $1/kernel    the root of linux-image-<version>-arm64 (boot/, lib/modules/)
#   $1/firmware  the root of raspi-firmware (usr/lib/raspi-firmware/)
#   $1/VERSIONS  the exact packages used
# It uses a private apt configuration under $1/apt, so it changes nothing on
# the host and needs no root. Downloads are kept: a second run is offline.
set -euo pipefail
out="${1:-out/debs}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
apt="$out/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d" "$apt/etc/apt.conf.d" "$apt/etc/sources.list.d"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$apt/etc/sources.list" <<SOURCES
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm main non-free-firmware
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm-updates main non-free-firmware
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main non-free-firmware
SOURCES
opts=(
	-o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
	-o "Dir::Etc=$apt/etc" -o "Dir::Etc::SourceList=$apt/etc/sources.list"
	-o "Dir::Etc::SourceParts=$apt/etc/sources.list.d" -o "Dir::Etc::Parts=$apt/etc/apt.conf.d"
	-o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
	-o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=/dev/null"
	-o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
	-o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)"
)
if [ ! -s "$out/VERSIONS" ]; then
	apt-get "${opts[@]}" -qq update
	kernel="$(apt-cache "${opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
	kernel="${kernel%:arm64}"
	[ -n "$kernel" ] || { echo "fetch-debs: no arm64 kernel package found" >&2; exit 1; }
	(cd "$apt/archives" && apt-get "${opts[@]}" -qq download "$kernel" raspi-firmware)
	ls "$apt/archives"/*.deb | xargs -n1 basename > "$out/VERSIONS"
fi
rm -rf "$out/kernel" "$out/firmware"
dpkg-deb -x "$apt/archives/$(grep '^linux-image-' "$out/VERSIONS")" "$out/kernel"
dpkg-deb -x "$apt/archives/$(grep '^raspi-firmware_' "$out/VERSIONS")" "$out/firmware"
echo "fetch-debs: $(tr '\n' ' ' < "$out/VERSIONS")"
