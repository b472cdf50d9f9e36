#!/bin/sh
# The seed's case, on a real kernel: the remapper seizes QEMU's PS/2
# keyboard (i8042, built in) and its USB keyboard alike, once the user
# granted it keyboards; keys typed from the host come out of its virtual
# keyboards, which the kernel sees through uhid, then uinput: caps_lock as
# escape, a as b, right_alt + h as left; evtest and a libevdev reader see
# them; nothing reaches the seized keyboards' own nodes; a revoke gives
# the keyboards back at once.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# modules: xhci_pci usbhid hid_generic evdev uhid uinput
# timeout: 300
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/hid.sh"

plan 12
wait_for 20 test -e /dev/input/event1
check "udkd starts with --hid-evdev" udkd_start --hid-evdev
ps2path=$(hid_find "AT Translated Set 2 keyboard" evdev)
usbpath=$(hid_find "QEMU USB Keyboard" evdev)
ps2node=$(udkctl props "${ps2path%/IOHIDInterface}" | sed -n 's/.*"UDKEvdevNode" = "\(.*\)"/\1/p')
note "PS/2 $ps2path ($ps2node), USB $usbpath"

# no grant: refused, built-in and external by the same rule
refused() { udkctl explain org.udk.hid-remap "$1" >"$T/explain" 2>&1 && contains "$T/explain" "$2"; }
wait_for 30 refused "$ps2path" "UDK_E_NOT_PERMITTED"
check "without the grant the built-in keyboard is refused, naming the policy and the command" \
	refused "$ps2path" 'org.udk.hid.protected-device-access): org.udk.hid-remap may not seize the built-in keyboard "AT Translated Set 2 keyboard" (built-in, i8042'
check "the refusal says how to grant it" refused "$ps2path" '`udkctl access grant --hid keyboard org.udk.hid-remap`'
wait_for 30 refused "$usbpath" "UDK_E_NOT_PERMITTED"
check "the external USB keyboard is refused by the same rule" \
	refused "$usbpath" 'may not seize the keyboard "QEMU QEMU USB Keyboard" (external, USB'
udkctl access list >"$T/list"
check "udkctl access list shows the request" contains "$T/list" "grant with: udkctl access grant --hid keyboard org.udk.hid-remap"

step "grant"
udkctl access grant --hid keyboard org.udk.hid-remap >/dev/null
wait_for 60 vk_phys "$ps2path"
wait_for 60 vk_phys "$usbpath"
ps2vk=$(vk_phys "$ps2path")
usbvk=$(vk_phys "$usbpath")
note "virtual keyboards: $ps2vk, $usbvk"
ps2vknode=$("$EVREAD" --phys "$ps2vk" --node --timeout 20000)
usbvknode=$("$EVREAD" --phys "$usbvk" --node --timeout 20000)
note "their nodes: $ps2vknode, $usbvknode"
two_nodes() { [ -n "$ps2vknode" ] && [ -n "$usbvknode" ] && [ "$ps2vknode" != "$usbvknode" ]; }
check "both virtual keyboards are Linux input devices (uhid)" two_nodes

# evtest reads the PS/2 one, the libevdev reader the USB one; the seized PS/2 node is read too
evtest "$ps2vknode" >"$T/evtest" 2>&1 &
evtest_pid=$!
"$EVREAD" --count 8 --timeout 60000 "$usbvknode" >"$T/usbvk" 2>&1 &
usbread=$!
"$EVREAD" --count 1 --timeout 30000 "$ps2node" >"$T/ps2raw" 2>&1 &
rawread=$!
wait_for 10 grep -q "Testing" "$T/evtest"
wait_for 10 grep -q ready "$T/usbvk"
step "typing"
ps2 caps_lock a x
ps2_press alt_r
ps2 h
ps2_release alt_r
usb caps_lock a x
usb_press alt_r
usb h
usb_release alt_r
wait "$usbread"
# evtest's "Event: ..., type 1 (EV_KEY), code 1 (KEY_ESC), value 1" as "KEY_ESC 1"
evtest_keys() { grep 'type 1 (EV_KEY).*value [01]$' "$T/evtest" | sed 's/.*code [0-9]* (\(.*\)), value \(.*\)/\1 \2/' >"$T/evtest.keys"; }
evtest_has() { evtest_keys; [ "$(grep -c . "$T/evtest.keys")" -ge "$1" ]; }
wait_for 20 evtest_has 8
evtest_keys
note "evtest on the PS/2 keyboard's virtual keyboard: $(keys_of "$T/evtest.keys")"
check "PS/2 (built in): caps_lock, a, x, right_alt+h come out as escape, b, x, left (evtest)" \
	keys_are "$T/evtest.keys" "KEY_ESC 1 KEY_ESC 0 KEY_B 1 KEY_B 0 KEY_X 1 KEY_X 0 KEY_LEFT 1 KEY_LEFT 0"
note "libevdev reader on the USB keyboard's virtual keyboard: $(keys_of "$T/usbvk")"
check "USB (external): the same (libevdev)" \
	keys_are "$T/usbvk" "KEY_ESC 1 KEY_ESC 0 KEY_B 1 KEY_B 0 KEY_X 1 KEY_X 0 KEY_LEFT 1 KEY_LEFT 0"
wait "$rawread"
check "the seized PS/2 keyboard's own node delivered nothing meanwhile" keys_are "$T/ps2raw" ""

step "revoke"
"$EVREAD" --count 2 --timeout 30000 "$ps2node" >"$T/ps2back" 2>&1 &
rawread=$!
wait_for 10 grep -q ready "$T/ps2back"
udkctl access revoke --hid keyboard org.udk.hid-remap >"$T/revoke" 2>&1
ps2 q
wait "$rawread"
check "revoked: the PS/2 keyboard is the user's again at once" keys_are "$T/ps2back" "KEY_Q 1 KEY_Q 0"
kill "$evtest_pid" 2>/dev/null

# uinput, where uhid is absent
step "uinput"
udkd_stop
udkd_start --hid-evdev --hid-uhid /nonexistent/uhid
udkctl access grant --hid keyboard org.udk.hid-remap >/dev/null
ps2path=$(hid_find "AT Translated Set 2 keyboard" evdev)
wait_for 60 vk_phys "$ps2path"
vknode=$("$EVREAD" --phys "$(vk_phys "$ps2path")" --node --timeout 20000)
"$EVREAD" --count 4 --timeout 60000 "$vknode" >"$T/uinput" 2>&1 &
rd=$!
wait_for 10 grep -q ready "$T/uinput"
ps2 caps_lock a
wait "$rd"
check "through uinput: escape, b" keys_are "$T/uinput" "KEY_ESC 1 KEY_ESC 0 KEY_B 1 KEY_B 0"
check "udkd said it exported through uinput" contains "$T/udkd.log" "is exported to Linux through uinput"
