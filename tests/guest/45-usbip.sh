#!/bin/sh
# Linux's own drivers on a udk simulated device: a CDC-ACM model whose
# machine-description entry says Host linux is attached to vhci-hcd over a
# socket pair (udkd writes "PORT FD DEVID SPEED" to vhci_hcd.0/attach, the
# model speaks USB/IP on the other end).  The kernel enumerates it, cdc_acm
# binds, /dev/ttyACM0 appears and carries data both ways (the model loops
# its line back).  udkd's usbfs side sees the same device arrive and leave
# (uevents); `udkctl sim unplug` detaches it, `sim plug` brings it back.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# qemu: -chardev udp,id=ser0,host=127.0.0.1,port=47123,localaddr=127.0.0.1,localport=47123
# qemu: -device usb-serial,bus=xhci.0,chardev=ser0,id=ftdi0,always-plugged=on
# qemu: -drive if=none,id=ud,driver=null-co,read-zeroes=on,size=67108864,snapshot=on
# qemu: -device usb-storage,bus=xhci.0,drive=ud,id=stor0
# modules: xhci_pci usbhid hid_generic evdev usb_storage sd_mod sg ftdi_sio vhci_hcd cdc_acm
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/usb.sh"

cat >"$T/machine.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Devices</key><array>
<dict><key>Name</key><string>acm0</string><key>Model</key><string>usb-cdc-acm</string>
<key>Kind</key><string>usb</string><key>Host</key><string>linux</string></dict>
</array></dict></plist>
PLIST

# write N random bytes to the tty and read them back, in raw mode
tty_loop() {
	python3 - "$1" "$2" <<'PY'
import os, sys, termios, tty, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
termios.tcflush(fd, termios.TCIOFLUSH)
data = os.urandom(n)
got = b""
sent = 0
deadline = time.time() + 30
while len(got) < n and time.time() < deadline:
    if sent < n and sent - len(got) < 4096:
        sent += os.write(fd, data[sent:sent + 1024])
    import select
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        got += os.read(fd, 65536)
os.close(fd)
print("tty: %d bytes sent, %d came back, %s" % (n, len(got), "same" if got == data else "DIFFERENT"))
PY
}

plan 11
check "vhci-hcd is there" test -e /sys/devices/platform/vhci_hcd.0/attach
check "udkd starts with the CDC-ACM model given to Linux" usb_udkd_start -- --machine "$T/machine.plist" --usb-sysfs
check "udkd attached it to a vhci-hcd port" wait_for 20 sh -c "'$B/tools/udkctl' --runtime-dir $T/run sim list | grep -q vhci_port"
udkctl sim list >"$T/sim" 2>&1
sed 's/^/# /' "$T/sim"
check "the kernel enumerates it (1209:0005)" wait_for 60 sh -c ". $S/tests/guest/lib/usb.sh; usb_find 1209:0005"
acm=$(usb_find 1209:0005)
note "the simulated device is $acm"
check "the kernel's cdc_acm binds it" wait_for 30 sh -c \
	". $S/tests/guest/lib/usb.sh; [ \"\$(usb_kernel_driver $acm 0)\" = cdc_acm ]"
check "/dev/ttyACM0 appears" wait_for 30 test -c /dev/ttyACM0
tty_loop /dev/ttyACM0 20000 >"$T/tty" 2>&1
sed 's/^/# /' "$T/tty"
check "20 kB through /dev/ttyACM0, the model's loop and back" contains "$T/tty" "tty: 20000 bytes sent, 20000 came back, same"
check "udkd's usbfs side saw it arrive (uevent add) with its ids" wait_for 20 sh -c \
	"'$B/tools/udkctl' --runtime-dir $T/run props /USBHost/$acm | grep -qF '\"idProduct\" = 5'"
udkctl sim unplug acm0 >/dev/null 2>&1
check "sim unplug: the device leaves Linux, /dev/ttyACM0 goes" wait_for 30 sh -c "! test -e /dev/ttyACM0"
check "udkd's usbfs side saw it leave (uevent remove)" wait_for 20 sh -c \
	"! '$B/tools/udkctl' --runtime-dir $T/run tree /USBHost | grep -q '$acm '"
udkctl sim plug acm0 >/dev/null 2>&1
check "sim plug: it comes back as /dev/ttyACM0" wait_for 60 test -c /dev/ttyACM0
