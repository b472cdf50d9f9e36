#!/bin/sh
# run-test.sh - the driver, its simulated device and the app, in a udkd of
# their own: its own runtime and state directories, developer mode (so the
# bundle needs no signature), the build directory as bundle and model
# directory, machine.plist as the machine.
#
#   run-test.sh UDKD UDKCTL BUILDDIR MACHINE.plist
set -eu
udkd=$1 udkctl=$2 build=$3 machine=$4
tmp=$(mktemp -d)
chmod 755 "$tmp"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/state"
"$udkd" --runtime-dir "$tmp/run" --state-dir "$tmp/state" --bundles "$build" --models "$build" \
	--machine "$machine" 2>"$tmp/udkd.log" &
pid=$!
export UDK_RUNTIME_DIR="$tmp/run"
"$udkctl" --wait 10 developer on >/dev/null
"$udkctl" sim plug @@name@@0 >/dev/null
if ! "$udkctl" wait @@Name@@Driver 30 >/dev/null; then
	echo "@@Name@@Driver did not appear; udkctl drivers says:"
	"$udkctl" drivers @@identifier@@ || true
	echo "udkd's log:"
	cat "$tmp/udkd.log"
	exit 1
fi
out=$("$build/@@name@@-app")
echo "$out"
case "$out" in
*"degrees Celsius"*) ;;
*)
	echo "the app did not print a temperature"
	exit 1
	;;
esac
