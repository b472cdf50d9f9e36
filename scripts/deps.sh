#!/bin/sh
# deps.sh - install what udk needs to build and test on Debian 12.
# Safe to run again; does nothing when everything is present.
set -eu

PACKAGES="
build-essential meson ninja-build pkg-config clang llvm lld libclang-rt-14-dev
libplist-dev libplist-utils libxml2-dev libsodium-dev libseccomp-dev
valgrind python3 procps libsystemd-dev dbus
libusb-1.0-0-dev libfuse3-dev
libevdev-dev evtest
picocom socat expect python3-serial util-linux coreutils
tgt libiscsi-dev libiscsi-bin nbdkit nbdkit-plugin-dev libnbd-bin fio qemu-utils nbd-client e2fsprogs
libasound2-dev alsa-utils
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root, or: sudo apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
