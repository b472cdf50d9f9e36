#!/bin/sh
# bundle.sh - assemble the bundle and sign it, then put it in place in one
# step: a udkd watching the directory never sees it unsigned or half made.
#
#   bundle.sh UDK_BUNDLE UDK_SIGN KEY|'' OUT.dext INFO.plist EXECUTABLE ENTITLEMENTS.plist STAMP
set -eu
udk_bundle=$1 udk_sign=$2 key=$3 out=$4 info=$5 exe=$6 ent=$7 stamp=$8
# made aside, in a directory udkd does not scan (it reads NAME.dext at the top)
work="$(dirname "$out")/.bundle-work.$$"
tmp="$work/$(basename "$out")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
"$udk_bundle" "$tmp" "$info" "$exe" "$ent"
if [ -n "$key" ]; then
	"$udk_sign" sign --key "$key" "$tmp" >/dev/null
fi
rm -rf "$out.old"
[ ! -e "$out" ] || mv "$out" "$out.old"
mv "$tmp" "$out"
rm -rf "$out.old"
touch "$stamp"
