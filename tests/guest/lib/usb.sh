# Helpers of the USB guest tests (sourced after common.sh).

# The QEMU devices every USB test shares (each test file repeats the same
# "# qemu:" lines; the rig takes each once): qemu-xhci with usb-kbd,
# usb-serial (an FTDI FT232 whose host side is a UDP socket sending to
# itself: what the guest writes comes back) and usb-storage (a 64 MiB
# disk of zeroes; writes go to a temporary overlay).

# usb_find VENDOR:PRODUCT: the sysfs name of that device
usb_find() {
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		[ "$(cat "$d/idVendor"):$(cat "$d/idProduct")" = "$1" ] && basename "$d" && return 0
	done
	return 1
}

# usb_udkd_start BUNDLE... -- ARGS...: a private udkd with only these of the
# build's bundles (so one driver, not every example, claims a device)
usb_udkd_start() {
	mkdir -p "$T/run" "$T/state" "$T/bundles"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cp -r "$B/drivers/$1" "$T/bundles/"
		shift
	done
	[ "${1:-}" = -- ] && shift
	echo on >"$T/state/developer-mode"
	"$B/daemon/udkd" --runtime-dir "$T/run" --state-dir "$T/state" --bundles "$T/bundles" \
		--restart-base-ms 20 "$@" >"$T/udkd.log" 2>&1 &
	udkd_pid=$!
	"$B/tools/udkctl" --runtime-dir "$T/run" --wait 20 status >/dev/null 2>&1
}

# usb_kernel_driver SYSNAME IFACE: the kernel driver bound to interface IFACE
usb_kernel_driver() {
	cfg=$(cat "/sys/bus/usb/devices/$1/bConfigurationValue" 2>/dev/null)
	basename "$(readlink "/sys/bus/usb/devices/$1/$1:$cfg.$2/driver" 2>/dev/null)" 2>/dev/null
}

# tree_has TEXT: udkctl tree mentions TEXT
tree_has() { "$B/tools/udkctl" --runtime-dir "$T/run" tree | grep -q "$1"; }

# usb_disk SYSNAME: the block device (sdX) the kernel made of that USB device
usb_disk() {
	for b in /sys/block/sd*; do
		case "$(readlink -f "$b/device")" in */$1:*) basename "$b"; return 0 ;; esac
	done
	return 1
}
