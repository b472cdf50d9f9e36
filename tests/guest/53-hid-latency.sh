#!/bin/sh
# Key-to-event latency on a real kernel: a uinput keyboard stands for the
# physical one; each key is timed until an evdev reader holds it, reading
# the keyboard's node directly, then through the remapper (udkd reads the
# node, the remapper seizes and remaps, its virtual keyboard goes back in
# through uhid).  Figures only, no threshold: under TCG every hop is some
# ten times slower than on hardware (bench/bench-hid.c measures the
# remapper's share natively on simulated keyboards).
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# modules: xhci_pci usbhid hid_generic evdev uhid uinput
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/hid.sh"

plan 3
check "udkd starts" udkd_start --hid-evdev
"$B/families/hid/tests/evdev-latency" 300 "$T/vknode" >"$T/lat" 2>"$T/lat.err" &
lat=$!
wait_for 30 hid_find "udk latency keyboard" evdev
kbd=$(hid_find "udk latency keyboard" evdev)
wait_for 120 grep -q '^direct' "$T/lat"
udkctl access grant --hid keyboard org.udk.hid-remap >/dev/null
wait_for 60 vk_phys "$kbd"
"$EVREAD" --phys "$(vk_phys "$kbd")" --node --timeout 20000 >"$T/vknode"
wait "$lat"
note "$(cat "$T/lat" "$T/lat.err" | tr '\n' ';')"
check "keys were timed reading the keyboard directly" grep -q '^direct' "$T/lat"
check "and through the remapper's virtual keyboard" grep -q '^remapped' "$T/lat"
d=$(sed -n 's/^direct \([0-9.]*\) \([0-9.]*\)/\1 \2/p' "$T/lat")
r=$(sed -n 's/^remapped \([0-9.]*\) \([0-9.]*\)/\1 \2/p' "$T/lat")
echo "$d $r" | awk '{printf "# median: direct %.0f us, remapped %.0f us, added %.0f us (%.2fx); p99: direct %.0f us, remapped %.0f us (TCG)\n", $1, $3, $3 - $1, $3 / $1, $2, $4}'
