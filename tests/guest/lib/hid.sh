# HID helpers for guest tests (sourced after common.sh).
#
# The machine every HID guest test declares (identical lines are taken
# once; the USB family's guest tests declare the same keyboard, so a run of
# all tests has one USB keyboard): QEMU's PS/2 keyboard (i8042, built in)
# and a USB keyboard on xhci.
# The USB keyboard is bound to the bochs display's console, so keys sent
# with "qmp.py key --device vid0" go to it, and keys sent without a
# device go to the PS/2 keyboard.
#   qemu: -device qemu-xhci,id=xhci,addr=06.0
#   qemu: -device bochs-display,id=vid0,addr=0b.0
#   qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
#   modules: xhci_pci usbhid hid_generic evdev uhid uinput
QMP="python3 $S/tests/guest/lib/qmp.py"
# progress on stderr, with the time
step() { echo "# $(date +%T.%N | cut -c1-12) $*" >&2; }
# all TEXT... in FILE
contains_all() {
	f=$1
	shift
	for t in "$@"; do contains "$f" "$t" || return 1; done
}
UDKHID="$B/families/hid/udk-hid"
EVREAD="$B/families/hid/tests/evdev-read"
export UDK_RUNTIME_DIR="$T/run"

# QMP from the shell, through the host agent on ttyS1 (qmp.py does the
# same from Python; the shell is much faster to start under TCG)
stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null
exec 4<>/dev/ttyS1
qmp_call() {
	printf '%s\n' "$1" >&4
	IFS= read -r qmp_reply <&4
	case $qmp_reply in *'"error"'*) echo "# qmp: $1 -> $qmp_reply" >&2; return 1 ;; esac
	return 0
}
# keyev true|false QCODE [DISPLAY]: one key event
keyev() {
	dev=""
	[ -n "${3:-}" ] && dev=",\"device\":\"$3\""
	qmp_call "{\"execute\":\"input-send-event\",\"arguments\":{\"events\":[{\"type\":\"key\",\"data\":{\"down\":$1,\"key\":{\"type\":\"qcode\",\"data\":\"$2\"}}}]$dev}}"
}
# ps2 KEY... / usb KEY...: type on QEMU's keyboards, from the host (QEMU qcodes)
ps2() { for k in "$@"; do keyev true "$k" && keyev false "$k" || return 1; done; }
usb() { for k in "$@"; do keyev true "$k" vid0 && keyev false "$k" vid0 || return 1; done; }
ps2_press() { keyev true "$1"; }
ps2_release() { keyev false "$1"; }
usb_press() { keyev true "$1" vid0; }
usb_release() { keyev false "$1" vid0; }
# the keys a reader printed (evdev-read's lines), on one line
keys_of() { grep '^KEY' "$1" | tr '\n' ' '; }
# keys_are FILE "KEY_A 1 KEY_A 0 ...": exactly these
keys_are() {
	got=$(keys_of "$1")
	want=${2:+$2 }
	[ "$got" = "$want" ] && return 0
	echo "# $1 has \"$got\", expected \"$want\"" >&2
	return 1
}

# hid_find WHAT: the registry path of the IOHIDInterface of the HID device
# whose product contains WHAT (and, with a second argument, whose backend it is)
hid_find() {
	udkctl --json families hid | python3 -c '
import json, sys
want, backend = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
fams = json.load(sys.stdin)["families"]
for f in fams:
    for d in (f.get("state") or {}).get("devices", []):
        if want in d["product"] and (backend is None or d["backend"] == backend):
            print(d["path"])
            sys.exit(0)
sys.exit(1)' "$@"
}
# hid_key WHAT: a device's grant key
hid_key() {
	udkctl --json families hid | python3 -c '
import json, sys
for f in json.load(sys.stdin)["families"]:
    for d in (f.get("state") or {}).get("devices", []):
        if sys.argv[1] in d["product"]:
            print(d["key"])
            sys.exit(0)
sys.exit(1)' "$1"
}

# vk_phys KEYBOARD_PATH: the phys of the virtual keyboard the remapper on
# that keyboard made (its export is "udk-virtual/NAME")
vk_phys() {
	dev=$(udkctl props "${1}/Remapper/RemapKeyboard" 2>/dev/null | sed -n 's/.*"UDKHIDDevice" = "\/HIDVirtual\/\(.*\)"/\1/p')
	[ -n "$dev" ] && echo "udk-virtual/$dev"
}
# remapper_pid KEYBOARD_PATH
remapper_pid() {
	udkctl drivers org.udk.hid-remap | sed -n "s|.*instance ${1}/Remapper: running, pid \([0-9]*\).*|\1|p"
}
# a bundle directory with the build's HID bundles, the remapper with its test hooks on
hid_bundles() {
	mkdir -p "$T/bundles"
	cp -r "$B/drivers/HIDEvents.dext" "$B/drivers/HIDRemap.dext" "$T/bundles/"
	sed -i 's|<key>UserClientProperties</key>|<key>RemapTestHooks</key><true/><key>UserClientProperties</key>|' \
		"$T/bundles/HIDRemap.dext/Info.plist"
	chmod -R a+rX "$T/bundles"
}
# hid_udkd_start ARGS...: udkd_start with those bundles instead of the build's
hid_udkd_start() {
	mkdir -p "$T/run" "$T/state"
	echo on >"$T/state/developer-mode"
	"$B/daemon/udkd" --runtime-dir "$T/run" --state-dir "$T/state" --bundles "$T/bundles" \
		--restart-base-ms 20 "$@" >>"$T/udkd.log" 2>&1 &
	udkd_pid=$!
	"$B/tools/udkctl" --runtime-dir "$T/run" --wait 20 status >/dev/null 2>&1
}
