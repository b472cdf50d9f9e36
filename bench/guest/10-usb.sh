#!/bin/sh
# The guest USB benchmark: bulk IN from QEMU's FTDI and mass-storage reads,
# through udk (driver in its sandbox, usbfs descriptor from udkd, libusb
# inside) against libusb used directly on the same device, alternately,
# best of three each.  Goal: udk >= 0.9x.  Run with
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
DISK_MB=${DISK_MB:-32}
num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$2" | tail -1; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }

plan 4
wait_for 30 sh -c ". $S/tests/guest/lib/usb.sh; usb_find 0403:6001 && usb_find 46f4:0001" ||
	{ not_ok "the devices enumerate"; exit 1; }
ftdi_udk="" ftdi_lib="" disk_udk="" disk_lib=""
for round in 1 2 3; do
	"$B/bench/usb-libusb" ftdi-loop "$FTDI_BYTES" 1024 >"$T/fl" 2>&1 && ftdi_lib="$ftdi_lib $(num kbs "$T/fl")"
	"$B/bench/usb-libusb" bot-read "$DISK_MB" >"$T/dl" 2>&1 && disk_lib="$disk_lib $(num mbs "$T/dl")"
	usb_udkd_start UsbFtdi.dext UsbStorage.dext -- --usb-sysfs --log-level notice
	wait_for 60 sh -c "'$B/tools/udkctl' --runtime-dir $T/run tree | grep -q FtdiDriver && '$B/tools/udkctl' --runtime-dir $T/run tree | grep -q BotDriver"
	"$B/examples/usb-serial-app" --runtime-dir "$T/run" --loop "$FTDI_BYTES" --chunk 1024 --json >"$T/fu" 2>&1 &&
		ftdi_udk="$ftdi_udk $(num kbs "$T/fu")"
	"$B/examples/usb-storage-app" --runtime-dir "$T/run" --read-mb "$DISK_MB" --json >"$T/du" 2>&1 &&
		disk_udk="$disk_udk $(num mbs "$T/du")"
	udkd_stop
	rm -rf "$T/run" "$T/bundles"
	sleep 2 # the kernel drivers come back before libusb detaches them again
	note "round $round: FTDI libusb$ftdi_lib / udk$ftdi_udk kB/s; disk libusb$disk_lib / udk$disk_udk MB/s"
done
fl=$(best $ftdi_lib) fu=$(best $ftdi_udk) dl=$(best $disk_lib) du=$(best $disk_udk)
check "libusb measured the FTDI" test -n "$fl"
check "udk measured the FTDI" test -n "$fu"
check "libusb measured the disk" test -n "$dl"
check "udk measured the disk" test -n "$du"
rf=$(echo "$fu $fl" | awk '{ if ($2 > 0) printf "%.3f", $1 / $2 }')
rd=$(echo "$du $dl" | awk '{ if ($2 > 0) printf "%.3f", $1 / $2 }')
note "bench: FTDI bulk loop (IN after OUT, $FTDI_BYTES bytes): udk $fu kB/s, libusb $fl kB/s, ratio $rf (goal 0.9)"
note "bench: mass-storage READ(10) 64 KiB, $DISK_MB MiB: udk $du MB/s, libusb $dl MB/s, ratio $rd (goal 0.9)"
echo "BENCH {\"bench\":\"usb-guest\",\"ftdi_udk_kbs\":${fu:-0},\"ftdi_libusb_kbs\":${fl:-0},\"ratio_ftdi\":${rf:-0},\"disk_udk_mbs\":${du:-0},\"disk_libusb_mbs\":${dl:-0},\"ratio_disk\":${rd:-0}}"
