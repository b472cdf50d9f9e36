#!/bin/sh
# The forum's case on a real device: QEMU's FTDI chip is a vendor-class
# device (bDeviceClass 0, bInterfaceClass 0xFF, bulk IN 0x81, OUT 0x02).
# The vendor example driver matches IOUSBHostDevice, opens it through
# usbfs (udkd opens /dev/bus/usb/..., takes the interface from ftdi_sio and
# hands the descriptor over; the sandboxed driver's libusb wraps it), sets
# the configuration, iterates the interfaces, gets the 0xFF one, opens its
# pipes and moves bytes both ways through the host side (a UDP socket
# that sends back what it gets).  When the driver ends, ftdi_sio comes back.
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

app() { "$B/examples/usb-vendor-app" --runtime-dir "$T/run" "$@"; }

plan 13
check "QEMU's FTDI enumerates, bound to ftdi_sio" wait_for 30 sh -c \
	". $S/tests/guest/lib/usb.sh; d=\$(usb_find 0403:6001) && [ \"\$(usb_kernel_driver \$d 0)\" = ftdi_sio ]"
ftdi=$(usb_find 0403:6001)
check "/dev/ttyUSB0 is the kernel's" wait_for 10 test -c /dev/ttyUSB0
check "udkd starts with --usb-sysfs and only the vendor example" usb_udkd_start UsbVendor.dext -- --usb-sysfs
check "the vendor driver starts on the real FTDI" wait_for 60 tree_has VendorDriver
app --info >"$T/info" 2>&1
sed 's/^/# /' "$T/info"
check "the iterator gives the vendor-class interface; its bulk pipes open (usbfs)" contains "$T/info" \
	"device 0403:6001 (usbfs backend), configuration 1: the iterator gave 1 interface; the driver opened interface 0, class 0xff, bulk IN 0x81 and OUT 0x02, 64-byte packets"
check "the device's strings, asked of the device" contains "$T/info" \
	'strings: manufacturer "QEMU", product "QEMU USB SERIAL"'
# the driver's libusb claimed it through the descriptor udkd gave: the kernel names that "usbfs"
check "ftdi_sio no longer has the interface: the udk driver claimed it (usbfs)" sh -c \
	". $S/tests/guest/lib/usb.sh; [ \"\$(usb_kernel_driver $ftdi 0)\" = usbfs ]"
check "/dev/ttyUSB0 went with ftdi_sio" test ! -e /dev/ttyUSB0
check "udkd says it took the interface from the kernel" contains "$T/udkd.log" "taken from their kernel drivers for org.udk.example.usb-vendor"
app --write "udk through a real FTDI" >"$T/w" 2>&1
sed 's/^/# /' "$T/w"
check "bulk OUT: the bytes go out" contains "$T/w" "wrote 23 bytes"
# the host side sends them back: bulk IN, 2 status bytes then the data
want=$(printf 'udk through a real FTDI' | od -An -tx1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
got=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	app --read 64 --timeout 1000 >>"$T/r" 2>&1
	got=$(sed -n 's/^read [0-9]* bytes: [0-9a-f][0-9a-f] [0-9a-f][0-9a-f] //p' "$T/r" | tr '\n' ' ')
	case "$got" in *"$want"*) break ;; esac
done
sed 's/^/# /' "$T/r"
check "bulk IN: the same bytes come back after the FTDI's 2 status bytes" sh -c "case '$got' in *'$want'*) exit 0 ;; esac; exit 1"
# the driver ends: the kernel gets its interface back
udkd_stop
check "ftdi_sio has the interface again after udk released it" wait_for 20 sh -c \
	". $S/tests/guest/lib/usb.sh; [ \"\$(usb_kernel_driver $ftdi 0)\" = ftdi_sio ]"
check "/dev/ttyUSB0 is back" wait_for 10 test -c /dev/ttyUSB0
