#!/bin/sh
# A remapping driver that crashes or hangs, on a real kernel and QEMU's
# PS/2 keyboard: keys typed from the host while the remapper is killed
# (SIGKILL) and restarted come out of its virtual keyboard exactly once,
# in order (its Linux input device stays the same: evdev readers never
# notice); a hung remapper is killed by the watchdog and the keyboard
# works again (how long it was unavailable is measured); a remapper that
# does not come back gives the keyboard back, with the keys nobody handled.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# modules: xhci_pci usbhid hid_generic evdev uhid uinput
# timeout: 300
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/hid.sh"

plan 9
wait_for 20 test -e /dev/input/event1
hid_bundles
check "udkd starts" hid_udkd_start --hid-evdev --hid-handoff-ms 15000 --watchdog-ms 1000 --crash-limit 4
udkctl access grant --hid keyboard org.udk.hid-remap >/dev/null
udkctl access grant org.udk.hid-remap "$B/families/hid/tests/remapctl" >/dev/null
ps2path=$(hid_find "AT Translated Set 2 keyboard" evdev)
ps2node=$(udkctl props "${ps2path%/IOHIDInterface}" | sed -n 's/.*"UDKEvdevNode" = "\(.*\)"/\1/p')
wait_for 60 vk_phys "$ps2path"
vknode=$("$EVREAD" --phys "$(vk_phys "$ps2path")" --node --timeout 20000)
note "PS/2 $ps2path ($ps2node), its virtual keyboard $vknode"

step "crash while typing"
pid1=$(remapper_pid "$ps2path")
"$EVREAD" --count 40 --timeout 200000 "$vknode" >"$T/crash" 2>&1 &
rd=$!
wait_for 10 grep -q ready "$T/crash"
ps2 q w e r t
kill -9 "$pid1"
ps2 y u i o p
wait_for 60 sh -c "[ -n \"\$($B/tools/udkctl --runtime-dir $T/run drivers org.udk.hid-remap | grep 'instance $ps2path/Remapper: running')\" ]"
ps2 q w e r t y u i o p
wait "$rd"
pid2=$(remapper_pid "$ps2path")
note "remapper pid $pid1 killed, now $pid2"
check "the remapper was killed and came back" sh -c "[ -n '$pid2' ] && [ '$pid1' != '$pid2' ]"
check "every key typed before, during and after the crash came out once, in order, on the same input device" \
	keys_are "$T/crash" "$(for k in Q W E R T Y U I O P Q W E R T Y U I O P; do printf 'KEY_%s 1 KEY_%s 0 ' $k $k; done | sed 's/ $//')"
check "udkd handed the keys over" contains "$T/udkd.log" "org.udk.hid-remap is back after"

step "hang"
"$EVREAD" --count 2 --timeout 120000 "$vknode" >"$T/hang" 2>&1 &
rd=$!
wait_for 10 grep -q ready "$T/hang"
# the PS/2 keyboard's own remapper hangs (the USB keyboard has another)
th=$(date +%s%N)
"$B/families/hid/tests/remapctl" hang "$ps2path/Remapper"
t0=$(date +%s%N)
ps2 a
wait "$rd"
t1=$(date +%s%N)
pid3=$(remapper_pid "$ps2path")
note "the keyboard was unavailable for $(( (t1 - th) / 1000000 )) ms from the hang, $(( (t1 - t0) / 1000000 )) ms from the key press (watchdog 1000 ms, under TCG); remapper pid $pid2 hung, now $pid3"
check "a hung remapper is killed by the watchdog and the key comes out of its next instance" \
	sh -c "[ -n '$pid3' ] && [ '$pid3' != '$pid2' ] && grep -q 'KEY_B 1' '$T/hang'"
check "the key came out once" keys_are "$T/hang" "KEY_B 1 KEY_B 0"
check "udkd said this remapper stopped answering" wait_for 20 grep -qF "(pid $pid2) stopped answering" "$T/udkd.log"

step "no next instance"
udkctl access revoke --hid keyboard org.udk.hid-remap >/dev/null
"$EVREAD" --count 4 --timeout 60000 "$ps2node" >"$T/back" 2>&1 &
rd=$!
wait_for 10 grep -q ready "$T/back"
ps2 z x
wait "$rd"
check "without a grant nothing takes the keyboard again: it is the user's" keys_are "$T/back" "KEY_Z 1 KEY_Z 0 KEY_X 1 KEY_X 0"
check "udkd released it" contains "$T/udkd.log" "loses it: the grant was revoked; the device is released"
