#!/bin/sh
# demo.sh - set up, build and run udk's main job: udkd with the bundled
# simulated machine (a PCIe capture card) and the example drivers, then the
# demo apps against them.
#
#   ./scripts/demo.sh            build, run the demo, stop udkd
#   ./scripts/demo.sh --keep     leave udkd running afterwards (udkctl works)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
keep=no
[ "${1:-}" = "--keep" ] && keep=yes

./scripts/deps.sh
[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null

run="${UDK_DEMO_RUNTIME_DIR:-$top/build/demo-run}"
mkdir -p "$run"
log="$run/udkd.log"
udkctl="$top/build/tools/udkctl --runtime-dir $run"

if $udkctl status >/dev/null 2>&1; then
	echo "== a demo udkd is already running in $run; stopping it"
	kill "$($udkctl --json status | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')" 2>/dev/null || true
	sleep 0.5
fi

# an open trust model: the demo is its own publisher.  It signs the example
# bundles with its key; udkd runs them once that key is trusted.
state="$run/state"
keys="$run/keys"
sign="$top/build/tools/udk-sign"
mkdir -p "$state" "$keys"
rm -f "$state/developer-mode"
[ -f "$keys/demo.secret" ] || "$sign" keygen --comment "udk demo publisher" "$keys/demo" >/dev/null
"$sign" sign --key "$keys/demo.secret" "$top"/build/drivers/*.dext

echo "== starting udkd (log: $log)"
"$top/build/daemon/udkd" --runtime-dir "$run" --bundles "$top/build/drivers" --state-dir "$state" \
	--machine "$top/machines/demo.plist" >"$log" 2>&1 &
udkd_pid=$!
stop() {
	if [ "$keep" = no ]; then
		kill "$udkd_pid" 2>/dev/null || true
		wait "$udkd_pid" 2>/dev/null || true
	fi
}
trap stop EXIT INT TERM
$udkctl --wait 5 status

echo
echo "== signed by a key udkd does not trust yet: refused, with the reason"
$udkctl trust remove "$("$sign" key-id "$keys/demo.public" | cut -d" " -f1)" >/dev/null 2>&1 || true
$udkctl drivers org.udk.example.hello | sed -n '1,3p'
echo "== udkctl trust add demo.public"
$udkctl trust add "$keys/demo.public"

echo
echo "== the registry (udkctl tree)"
$udkctl wait HelloDriver 10 >/dev/null
$udkctl tree

echo
echo "== the Hello example app"
"$top/build/examples/hello-app" "$run"

echo
echo "== the simulated PCIe capture card: EDID, 16 x 8K frame buffers (2.26 GB), DMA, an MSI per frame"
$udkctl wait CaptureDriver 10 >/dev/null
$udkctl sim list
"$top/build/examples/capture-app" --runtime-dir "$run" --frames "${UDK_DEMO_FRAMES:-120}"

echo
echo "== crash isolation: SIGKILL the driver, then call it again"
pid=$($udkctl --json tree | tr -d '\n' | sed -n 's/.*"name": "HelloDriver"[^}]*"pid": \([0-9]*\).*/\1/p')
echo "killing HelloDriver pid $pid"
kill -9 "$pid"
"$top/build/examples/hello-app" "$run" | head -3
$udkctl drivers org.udk.example.hello

echo
echo "== why a driver does (not) match: udkctl explain"
$udkctl explain org.udk.example.hello /widget0

if [ "$keep" = yes ]; then
	echo
	echo "udkd keeps running (pid $udkd_pid); try: build/tools/udkctl --runtime-dir $run tree"
fi
echo
echo "demo finished"
