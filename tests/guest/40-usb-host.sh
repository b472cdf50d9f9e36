#!/bin/sh
# Real USB devices through usbfs: udkd enumerates QEMU's usb-kbd, usb-serial
# (an FTDI FT232) and usb-storage on qemu-xhci from /sys/bus/usb/devices
# with their true descriptors (compared byte for byte with what the kernel
# read), publishes them as IOUSBHostDevice nubs, explains a personality
# against them, and follows hot plug (a port disabled and enabled again
# gives the kernel's remove and add uevents).
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
# killed at the timeout: say what udkd saw

# the sysfs name of the device with vendor:product $1
find_dev() {
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		[ "$(cat "$d/idVendor"):$(cat "$d/idProduct")" = "$1" ] && basename "$d" && return 0
	done
	return 1
}

plan 14
check "the three QEMU devices enumerate" wait_for 30 sh -c '
	for id in 0627:0001 0403:6001 46f4:0001; do
		found=0
		for d in /sys/bus/usb/devices/*; do
			[ -f "$d/idVendor" ] && [ "$(cat $d/idVendor):$(cat $d/idProduct)" = "$id" ] && found=1
		done
		[ $found = 1 ] || exit 1
	done'
kbd=$(find_dev 0627:0001)
ftdi=$(find_dev 0403:6001)
stor=$(find_dev 46f4:0001)
note "keyboard $kbd, FTDI $ftdi, storage $stor"
# no bundles: nothing takes the devices while they are looked at
check "udkd starts with --usb-sysfs" usb_udkd_start -- --usb-sysfs
udkctl tree /USBHost >"$T/tree" 2>&1
sed 's/^/# /' "$T/tree"
check "every device is an IOUSBHostDevice under /USBHost" sh -c \
	"grep -q '$kbd  <IOUSBHostDevice' $T/tree && grep -q '$ftdi  <IOUSBHostDevice' $T/tree && grep -q '$stor  <IOUSBHostDevice' $T/tree"
udkctl props "/USBHost/$ftdi" >"$T/ftdi" 2>&1
check "the FTDI's ids, class and strings are the device's" sh -c "
	grep -qF '\"idVendor\" = 1027' $T/ftdi && grep -qF '\"idProduct\" = 24577' $T/ftdi &&
	grep -qF '\"bDeviceClass\" = 0' $T/ftdi && grep -qF '\"USB Product Name\" = \"$(cat /sys/bus/usb/devices/$ftdi/product)\"' $T/ftdi"
udkctl props "/USBHost/$kbd" >"$T/kbd" 2>&1
check "the kernel driver of the keyboard's interface is named" contains "$T/kbd" '"UDKKernelDrivers" = {"0":"usbhid"}'
udkctl props "/USBHost/$stor" >"$T/stor" 2>&1
check "the storage device is 46f4:0001 at its bus address" sh -c "
	grep -qF '\"idVendor\" = 18164' $T/stor && grep -qF '\"USBBusNumber\" = $(cat /sys/bus/usb/devices/$stor/busnum)' $T/stor &&
	grep -qF '\"USBAddress\" = $(cat /sys/bus/usb/devices/$stor/devnum)' $T/stor"
# the descriptors udk publishes are the kernel's, byte for byte
"$B/families/usb/tests/usb-descs" "/sys/bus/usb/devices/$kbd/descriptors" >"$T/kbd-descs" 2>&1
sed 's/^/# /' "$T/kbd-descs"
check "the keyboard's configuration: interface 0, HID boot keyboard, interrupt IN 0x81" \
	contains "$T/kbd-descs" "interface 0 alternate 0: class 0x03 subclass 0x01 protocol 0x01, endpoints 0x81 interrupt 8"
check "udk's properties agree with the descriptors (idVendor 0x0627)" contains "$T/kbd" '"idVendor" = 1575'
# explain: the vendor example's FTDI personality against the real device, and against the keyboard
# explain: the vendor example, loaded now (it takes the FTDI from here on)
mkdir -p "$T/bundles" && cp -r "$B/drivers/UsbVendor.dext" "$T/bundles/"
udkctl rescan >/dev/null 2>&1
udkctl explain org.udk.example.usb-vendor "/USBHost/$kbd" >"$T/explain-kbd" 2>&1
check "explain says idVendor fails on the keyboard" contains "$T/explain-kbd" "idVendor: service has 0x0627, personality wants"
udkctl explain org.udk.example.usb-vendor "/USBHost/$ftdi" >"$T/explain-ftdi" 2>&1
sed 's/^/# /' "$T/explain-ftdi"
check "explain says idVendor and idProduct match the real FTDI" sh -c "
	grep -qF 'idVendor: service has 0x0403, personality wants 0x0403' $T/explain-ftdi &&
	grep -qF 'idProduct: service has 0x6001, personality wants 0x6001' $T/explain-ftdi"
# hot plug: the xhci controller goes away (every device with it: the kernel's remove
# uevents) and comes back (add uevents).  (Disabling one port works in this
# guest, but writing 0 to the port's disable attribute never returns.)
xhci=$(basename "$(readlink -f /sys/bus/usb/devices/usb1/..)")
note "xhci controller: $xhci"
timeout 30 sh -c "echo 1 >/sys/bus/pci/devices/$xhci/remove" || note "removing the controller did not return"
check "the devices' nubs are terminated when they go (uevent remove)" wait_for 30 sh -c \
	"! timeout 5 '$B/tools/udkctl' --runtime-dir $T/run tree /USBHost | grep -q IOUSBHostDevice"
timeout 30 sh -c "echo 1 >/sys/bus/pci/rescan" || note "the PCI rescan did not return"
check "the kernel enumerates them again" wait_for 60 sh -c \
	". $S/tests/guest/lib/usb.sh; usb_find 0627:0001 && usb_find 0403:6001 && usb_find 46f4:0001"
check "they are published again (uevent add)" wait_for 30 sh -c \
	"[ \$(timeout 5 '$B/tools/udkctl' --runtime-dir $T/run tree /USBHost | grep -c '<IOUSBHostDevice') -ge 3 ]"
check "udkd logged both" sh -c "grep -q 'USB device .* unplugged' $T/udkd.log && grep -q 'USB device .* plugged in' $T/udkd.log"
