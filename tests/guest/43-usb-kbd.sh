#!/bin/sh
# The boot-keyboard driver on QEMU's usb-kbd: an interface driver
# (IOUSBHostInterface, class 3/1/1); udkd takes just that interface from
# usbhid.  With SET_IDLE the keyboard reports every 100 ms even with no key
# pressed (QEMU gives the guest no way to press one), so the driver reads
# real interrupt reports, once the user granted it the keyboard (the HID
# family's rule, whichever family reaches a keyboard).  After udk, usbhid
# has the keyboard again.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# qemu: -chardev udp,id=ser0,host=127.0.0.1,port=47123,localaddr=127.0.0.1,localport=47123
# qemu: -device usb-serial,bus=xhci.0,chardev=ser0,id=ftdi0,always-plugged=on
# qemu: -drive if=none,id=ud,driver=null-co,read-zeroes=on,size=67108864,snapshot=on
# qemu: -device usb-storage,bus=xhci.0,drive=ud,id=stor0
# modules: xhci_pci usbhid hid_generic evdev usb_storage sd_mod sg ftdi_sio
# timeout: 180
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/usb.sh"

plan 9
check "QEMU's keyboard enumerates, bound to usbhid" wait_for 30 sh -c \
	". $S/tests/guest/lib/usb.sh; d=\$(usb_find 0627:0001) && [ \"\$(usb_kernel_driver \$d 0)\" = usbhid ]"
kbd=$(usb_find 0627:0001)
check "udkd starts with the keyboard driver" usb_udkd_start UsbKbd.dext -- --usb-sysfs
# a keyboard is the user's whichever family reaches it: the HID family's grant
check "without the keyboard grant the driver is refused the keyboard" wait_for 60 sh -c \
	"$B/tools/udkctl --runtime-dir $T/run drivers org.udk.example.usb-kbd | grep -qF 'may not read the keyboard'"
check "... and usbhid keeps it" sh -c ". $S/tests/guest/lib/usb.sh; [ \"\$(usb_kernel_driver $kbd 0)\" = usbhid ]"
udkctl access grant --hid keyboard org.udk.example.usb-kbd >/dev/null
check "the keyboard driver matches the interface udkd published" wait_for 60 tree_has KbdDriver
"$B/examples/usb-kbd-app" --runtime-dir "$T/run" --reports 5 --timeout 5000 >"$T/kbd" 2>&1
sed 's/^/# /' "$T/kbd"
check "it reads the keyboard's interrupt reports (usbfs)" sh -c \
	"grep -qF 'keyboard 0627:0001, interface 0 (usbfs backend)' $T/kbd && grep -qF '5 reports;' $T/kbd"
check "the reports are boot reports (8 bytes, no key down)" contains "$T/kbd" "report 4: modifiers 0x00 keys 00 00 00 00 00 00"
check "usbhid no longer has the interface while udk does" sh -c \
	". $S/tests/guest/lib/usb.sh; [ \"\$(usb_kernel_driver $kbd 0)\" = usbfs ]"
udkd_stop
check "usbhid has the keyboard again after udk released it" wait_for 20 sh -c \
	". $S/tests/guest/lib/usb.sh; [ \"\$(usb_kernel_driver $kbd 0)\" = usbhid ]"
