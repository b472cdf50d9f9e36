# HID helpers for guest tests (sourced after common.sh).
#
# The machine every HID guest test declares (identical lines are taken
# once): QEMU's PS/2 keyboard (i8042, built in) and a USB keyboard on xhci.
# The USB keyboard is bound to the bochs display's console, so keys sent
# with "qmp.py key --device vid0" go to it, and keys sent without a
# device go to the PS/2 keyboard.
#   qemu: -device qemu-xhci,id=xhci,addr=06.0
#   qemu: -device bochs-display,id=vid0,addr=0b.0
#   qemu: -device usb-kbd,bus=xhci.0,id=usbkbd,display=vid0
#   modules: xhci_pci usbhid hid_generic evdev uhid uinput
QMP="python3 $S/tests/guest/lib/qmp.py"
# killed at the timeout: still say what udkd logged (common.sh's EXIT trap)
trap 'echo "# killed at the timeout" >&2; exit 143' TERM INT
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

# ps2 KEY... / usb KEY...: type on QEMU's keyboards, from the host
ps2() { $QMP key --hold 20 "$@"; }
usb() { $QMP key --hold 20 --device vid0 "$@"; }

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
