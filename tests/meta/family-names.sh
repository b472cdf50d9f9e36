#!/bin/sh
# family-names.sh - families are the unit of the architecture
# (docs/families.md): udkd, the libraries and the tools never name a
# family.  Everything of a family lives in families/<name>/, and the one
# list of families is family_names in families/meson.build.  Fails, naming file and line,
# when daemon/, lib/, tools/ or the top-level public headers name one.
#
# TAP output.
set -u
root=${UDK_SOURCE_ROOT:-$(dirname "$0")/../..}
cd "$root" || exit 1

families=$(sed -n "/^family_names = \[/,/^\]/s/^  '\([a-z0-9]*\)',$/\1/p" families/meson.build)
[ -n "$families" ] || { echo "not ok 1 - no families found in families/meson.build"; exit 1; }

# DriverKit class prefixes and C prefixes of every family, and the bus
# acronyms, as words
pattern='\b(IOPCI|IOUSB|IOSCSI|IOHID|IOUserSerial|IOSerial|IOUserAudio|IOBlockStorage|IOUserBlockStorage|OP_PCI|OP_USB)'
pattern="$pattern|\\b(PCI|USB|SCSI|HID|VFIO|vfio|ALSA|NBD|UART|CUSE|uhid|usbfs)\\b"
for f in $families; do
	case $f in
	# family names that are also plain English words: their classes and
	# C prefixes above and below, not the word
	block | serial | audio) pattern="$pattern|\\b${f}_(family|port|device|stream|model)" ;;
	*) pattern="$pattern|\\b${f}_|\\b${f}\\b" ;;
	esac
done

n=0
fail=0
check() {
	n=$((n + 1))
	hits=$(grep -rnE "$pattern" "$@" --include='*.c' --include='*.h' --include='meson.build' 2>/dev/null || true)
	if [ -n "$hits" ]; then
		echo "not ok $n - $* name a family:"
		echo "$hits" | sed 's/^/# /'
		fail=1
	else
		echo "ok $n - $* name no family"
	fi
}

check daemon
check lib
check tools
# the top-level public headers (a family's own live in families/<name>/include)
n=$((n + 1))
hits=$(grep -nE "$pattern" include/udk/*.h 2>/dev/null || true)
if [ -n "$hits" ]; then
	echo "not ok $n - include/udk/*.h name a family:"
	echo "$hits" | sed 's/^/# /'
	fail=1
else
	echo "ok $n - include/udk/*.h name no family"
fi
echo "1..$n"
exit $fail
