#!/bin/sh
# install-bundle.sh - `meson install`: copy the bundle into udkd's bundle
# directory under a temporary name, then rename it into place, so that a
# running udkd reads the whole, signed bundle or nothing.
#
#   install-bundle.sh BUILD/Name.dext BUNDLEDIR
set -eu
src=$1 dest=${DESTDIR:-}$2
name=$(basename "$src")
mkdir -p "$dest"
tmp="$dest/.$name.new.$$"
trap 'rm -rf "$tmp"' EXIT
cp -R "$src" "$tmp"
# only root (or udkd's user) may change what udkd runs
chmod -R go-w "$tmp"
[ -e "$src/_CodeSignature" ] ||
	echo "install-bundle.sh: $name is not signed: udkd runs it only in developer mode (meson configure -Dsigning_key=KEY.secret)" >&2
if [ -e "$dest/$name" ]; then
	mv "$dest/$name" "$dest/.$name.old.$$"
	mv "$tmp" "$dest/$name"
	rm -rf "$dest/.$name.old.$$"
else
	mv "$tmp" "$dest/$name"
fi
echo "Installing $name to $dest"
