#!/bin/sh
# The FTDI USB-serial driver on QEMU's FT232 through usbfs, a serial port of
# the serial family: /dev/cu.usbserial-SERIAL appears; tcsetattr sets the
# chip's baud divisor; data moves both ways through the tty, the driver and
# QEMU's host side (a UDP socket that sends back what it gets).  Killed in
# the middle of a transfer, udkd resets the port, gives the interface back
# to ftdi_sio, the names go; the restarted driver takes the chip again, the
# names return and data moves.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# qemu: -chardev udp,id=ser0,host=127.0.0.1,port=47123,localaddr=127.0.0.1,localport=47123
# qemu: -device usb-serial,bus=xhci.0,chardev=ser0,id=ftdi0,always-plugged=on
# qemu: -drive if=none,id=ud,driver=null-co,read-zeroes=on,size=67108864,snapshot=on
# qemu: -device usb-storage,bus=xhci.0,drive=ud,id=stor0
# modules: xhci_pci usbhid hid_generic evdev usb_storage sd_mod sg ftdi_sio
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/usb.sh"

# bounded: a port that stops moving data fails the check instead of the whole test timing out
app() { timeout 60 "$B/examples/usb-serial-app" --runtime-dir "$T/run" "$@"; }
drv_pid() { sed -n 's/.*started FtdiDriver on .* (pid \([0-9]*\),.*/\1/p' "$T/udkd.log" | tail -1; }

plan 13
check "QEMU's FTDI enumerates" wait_for 30 sh -c ". $S/tests/guest/lib/usb.sh; usb_find 0403:6001"
ftdi=$(usb_find 0403:6001)
check "udkd starts with the FTDI driver" usb_udkd_start UsbFtdi.dext -- --usb-sysfs
check "the FTDI driver starts on the real chip" wait_for 60 tree_has FtdiDriver
check "the serial family makes /dev/cu.usbserial-*" wait_for 20 sh -c 'ls /dev/cu.usbserial-* >/dev/null 2>&1'
cu=$(ls /dev/cu.usbserial-* 2>/dev/null | head -1)
note "port $cu"
app --info >"$T/info" 2>&1
app --baud 57600 >>"$T/info" 2>&1
sed 's/^/# /' "$T/info"
check "usbfs backend, the port's tty" contains "$T/info" "FT232 0403:6001 (usbfs backend) at 115384 baud, port $cu;"
check "a baud rate set with the FT232's divisor" contains "$T/info" "baud rate 57600 asked, the chip runs at 57553"
app --loop 20000 --chunk 1024 >"$T/loop" 2>&1
sed 's/^/# /' "$T/loop"
check "20 kB out and back through the tty and QEMU's host side, every byte right" contains "$T/loop" \
	"looped 20000 bytes through $cu: 20000 came back, 0 differ"
# killed in the middle of a transfer: four bulk INs are always in flight
pid=$(drv_pid)
if [ -n "$pid" ] && kill -9 "$pid"; then ok "the driver is killed with its transfers in flight (pid $pid)"; else not_ok "kill the driver"; fi
check "udkd resets the port and gives the interface back" wait_for 20 sh -c \
	"grep -q 'port reset; 1 interface with a kernel driver again (ftdi_sio)' $T/udkd.log"
newpid() { p=$(drv_pid); [ -n "$p" ] && [ "$p" != "$pid" ]; }
check "the driver restarts and takes the chip again" wait_for 60 newpid
# the restarted driver may ask for the device while the reset still runs:
# udkd holds its open until the interface is back with ftdi_sio, then takes it
reset_then_open() {
	awk -v p="(pid $(drv_pid))" '/port reset; / && !r { r = NR }
		index($0, "taken from their kernel drivers") && index($0, p) { t = NR }
		END { exit !(r && t && r < t) }' "$T/udkd.log"
}
check "its open waited for the port reset to be done" reset_then_open
check "the port's names return" wait_for 20 test -e "$cu"
app --loop 5000 --chunk 1024 >"$T/loop2" 2>&1
sed 's/^/# /' "$T/loop2"
check "the restarted driver moves data" contains "$T/loop2" "looped 5000 bytes through $cu: 5000 came back, 0 differ"
