#!/bin/sh
# Linux input and raw HID devices as udk HID devices: QEMU's PS/2 keyboard
# (i8042, built in) and its USB keyboard published with DriverKit's HID
# properties, the USB keyboard's hidraw device with its report descriptor,
# keys typed from the host read through udk, and hotplug of a second USB
# keyboard (evdev and hidraw).
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# modules: xhci_pci usbhid hid_generic evdev uhid uinput
# timeout: 180
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/hid.sh"

plan 11
wait_for 20 test -e /dev/hidraw0
check "udkd starts with --hid-evdev --hid-hidraw" udkd_start --hid-evdev --hid-hidraw
ps2path=$(hid_find "AT Translated Set 2 keyboard" evdev)
usbpath=$(hid_find "QEMU USB Keyboard" evdev)
rawpath=$(hid_find "QEMU USB Keyboard" hidraw)
note "PS/2: $ps2path; USB: $usbpath; hidraw: $rawpath"
udkctl props "${ps2path%/IOHIDInterface}" >"$T/ps2" 2>&1
udkctl props "${usbpath%/IOHIDInterface}" >"$T/usb" 2>&1
udkctl props "${rawpath%/IOHIDInterface}" >"$T/raw" 2>&1
check "the PS/2 keyboard is a built-in i8042 keyboard" contains_all "$T/ps2" '"Transport" = "i8042"' \
	'"Built-In" = true' '"VendorID" = 1' '{"DeviceUsagePage":1,"DeviceUsage":6}' '"UDKHIDProtected" = true'
check "the USB keyboard is an external USB keyboard, 0627:0001" contains_all "$T/usb" '"Transport" = "USB"' \
	'"Built-In" = false' '"VendorID" = 1575' '"ProductID" = 1' '{"DeviceUsagePage":1,"DeviceUsage":6}'
check "its hidraw device has the report descriptor, parsed" contains_all "$T/raw" '"ReportDescriptor"' \
	'"MaxInputReportSize" = 8' '"PrimaryUsage" = 6' '"Transport" = "USB"'
udkctl explain org.udk.hid-remap "$ps2path" >"$T/explain" 2>&1
check "the remapper's personality matches the PS/2 keyboard with the HID keys" \
	contains "$T/explain" "DeviceUsagePairs: one pair is among the device's (1/6, 12/1)"
# reading through udk: the event service, granted the keyboards, and the tool, granted the event service
step "reading through udk"
udkctl access grant --hid keyboard org.udk.hid-events >/dev/null
udkctl access grant org.udk.hid-events "$UDKHID" >/dev/null
"$UDKHID" events -n 2 -t 20000 "$ps2path" >"$T/ps2keys" 2>"$T/ps2keys.err" &
reader=$!
wait_for 15 grep -q reading "$T/ps2keys"
sleep 0.5
ps2 a
wait "$reader"
check "a key typed on the PS/2 keyboard (from the host) reaches an app through udk" \
	contains_all "$T/ps2keys" "keyboard a down" "keyboard a up"
"$UDKHID" events --reports -n 2 -t 20000 "$rawpath" >"$T/rawkeys" 2>"$T/rawkeys.err" &
reader=$!
wait_for 15 grep -q reading "$T/rawkeys"
sleep 0.5
usb b
wait "$reader"
check "the USB keyboard's raw reports arrive from hidraw" \
	contains_all "$T/rawkeys" "report 00 00 05 00 00 00 00 00" "report 00 00 00 00 00 00 00 00"
step "hotplug"
# hotplug: a second USB keyboard comes and goes
# (only the USB keyboards of the evdev and hidraw backends: virtual devices
# of other tests' drivers may come and go meanwhile)
hid_count() {
	udkctl --json families hid | python3 -c '
import json, sys
n = 0
for f in json.load(sys.stdin)["families"]:
    for d in (f.get("state") or {}).get("devices", []):
        if "QEMU USB Keyboard" in d["product"] and d["backend"] in ("evdev", "hidraw"):
            n += 1
print(n)'
}
count_is() { [ "$(hid_count)" -eq "$1" ]; }
before=$(hid_count)
qmp_call '{"execute":"device_add","arguments":{"driver":"usb-kbd","bus":"xhci.0","id":"usbkbd2","display":"vid0"}}'
wait_for 30 count_is $((before + 2))
check "a hot-plugged USB keyboard appears as an input and a raw HID device" count_is $((before + 2))
qmp_call '{"execute":"device_del","arguments":{"id":"usbkbd2"}}'
wait_for 30 count_is "$before"
check "unplugged, it is gone again" count_is "$before"
check "udkd logged both" contains_all "$T/udkd.log" "published as a HID device" "is gone: unplugged"
check "the remapper (in the build's bundles) left the raw HID keyboards alone" \
	contains "$T/udkd.log" "is a raw HID device (hidraw has no grab)"
