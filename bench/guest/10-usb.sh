#!/bin/sh
# The guest USB benchmark: bulk IN from QEMU's FTDI and mass-storage reads,
# through udk (driver in its sandbox, usbfs descriptor from udkd, libusb
# inside) against libusb used directly on the same device, alternately,
# best of three each.  Goal: udk >= 0.9x.  The FTDI's bytes loop back
# through QEMU's host side: udk's go app -> tty -> driver -> chip and back
# (the serial family's port), libusb's straight from the bench.  Run with
#   UDK_GUEST_TESTS=bench/guest ./scripts/guest.sh --build build-bench
# (scripts/bench.sh does).  Prints the ratios, and a BENCH line.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0
# qemu: -chardev udp,id=ser0,host=127.0.0.1,port=47123,localaddr=127.0.0.1,localport=47123
# qemu: -device usb-serial,bus=xhci.0,chardev=ser0,id=ftdi0,always-plugged=on
# qemu: -drive if=none,id=ud,driver=null-co,read-zeroes=on,size=67108864,snapshot=on
# qemu: -device usb-storage,bus=xhci.0,drive=ud,id=stor0
# modules: xhci_pci usbhid hid_generic evdev usb_storage sd_mod sg ftdi_sio
# timeout: 900
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/usb.sh"
trap 'cleanup; exit 124' TERM

FTDI_BYTES=${FTDI_BYTES:-200000}
FTDI_AHEAD=${FTDI_AHEAD:-4096}
DISK_MB=${DISK_MB:-32}
num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$2" | tail -1; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }

plan 4
wait_for 30 sh -c ". $S/tests/guest/lib/usb.sh; usb_find 0403:6001 && usb_find 46f4:0001" ||
	{ not_ok "the devices enumerate"; exit 1; }
ftdi_udk="" ftdi_lib="" disk_udk="" disk_udk4="" disk_lib=""
for round in 1 2 3; do
	"$B/bench/usb-libusb" ftdi-loop "$FTDI_BYTES" "$FTDI_AHEAD" >"$T/fl" 2>&1 && ftdi_lib="$ftdi_lib $(num kbs "$T/fl")"
	"$B/bench/usb-libusb" bot-read "$DISK_MB" >"$T/dl" 2>&1 && disk_lib="$disk_lib $(num mbs "$T/dl")"
	# each driver alone, as libusb ran alone
	usb_udkd_start UsbFtdi.dext -- --usb-sysfs --log-level notice
	wait_for 60 tree_has IOSerialBSDClient
	"$B/examples/usb-serial-app" --runtime-dir "$T/run" --loop "$FTDI_BYTES" --chunk "$FTDI_AHEAD" --json >"$T/fu" 2>&1 &&
		ftdi_udk="$ftdi_udk $(num kbs "$T/fu")"
	udkd_stop
	rm -rf "$T/run" "$T/bundles"
	sleep 2 # the kernel driver comes back before the next one detaches it again
	usb_udkd_start UsbStorage.dext SCSIDisk.dext -- --usb-sysfs --log-level notice
	wait_for 60 tree_has IOUserBlockStorageDevice
	"$B/examples/usb-storage-app" --runtime-dir "$T/run" --read-mb "$DISK_MB" --depth 1 --json >"$T/du" 2>&1 &&
		disk_udk="$disk_udk $(num mbs "$T/du")"
	"$B/examples/usb-storage-app" --runtime-dir "$T/run" --read-mb "$DISK_MB" --depth 4 --json >"$T/du4" 2>&1 &&
		disk_udk4="$disk_udk4 $(num mbs "$T/du4")"
	udkd_stop
	rm -rf "$T/run" "$T/bundles"
	sleep 2
	note "round $round: FTDI libusb$ftdi_lib / udk$ftdi_udk kB/s; disk libusb$disk_lib / udk$disk_udk (4 in flight:$disk_udk4) MB/s"
done
fl=$(best $ftdi_lib) fu=$(best $ftdi_udk) dl=$(best $disk_lib) du=$(best $disk_udk) du4=$(best $disk_udk4)
check "libusb measured the FTDI" test -n "$fl"
check "udk measured the FTDI" test -n "$fu"
check "libusb measured the disk" test -n "$dl"
check "udk measured the disk" test -n "$du"
rf=$(echo "$fu $fl" | awk '{ if ($2 > 0) printf "%.3f", $1 / $2 }')
rd=$(echo "$du $dl" | awk '{ if ($2 > 0) printf "%.3f", $1 / $2 }')
rd4=$(echo "$du4 $dl" | awk '{ if ($2 > 0) printf "%.3f", $1 / $2 }')
note "bench: FTDI loop ($FTDI_BYTES bytes, $FTDI_AHEAD ahead; udk: through the tty): udk $fu kB/s, libusb $fl kB/s, ratio $rf (goal 0.9)"
note "bench: mass-storage reads of 64 KiB, $DISK_MB MiB (udk: app -> block device -> SCSI disk driver -> BOT controller; libusb: READ(10) straight): udk $du MB/s one at a time, $du4 MB/s 4 in flight; libusb $dl MB/s; ratios $rd and $rd4 (goal 0.9)"
echo "BENCH {\"bench\":\"usb-guest\",\"ftdi_udk_kbs\":${fu:-0},\"ftdi_libusb_kbs\":${fl:-0},\"ratio_ftdi\":${rf:-0},\"disk_udk_mbs\":${du:-0},\"disk_libusb_mbs\":${dl:-0},\"ratio_disk\":${rd:-0},\"disk_udk_depth4_mbs\":${du4:-0},\"ratio_disk_depth4\":${rd4:-0}}"
