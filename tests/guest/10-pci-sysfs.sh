#!/bin/sh
# udkd --pci-sysfs publishes the guest's real PCI functions with the ids
# their config space holds, and `udkctl explain` works against them.
# qemu: -device edu,id=edu0,addr=02.0,dma_mask=0xffffffff
# timeout: 120
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

fns=$(ls /sys/bus/pci/devices)
count=$(echo "$fns" | wc -w)
plan $((count * 2 + 5))
check "udkd starts with --pci-sysfs" udkd_start --pci-sysfs
udkctl tree /PCIHost >"$T/tree" 2>&1
for f in $fns; do
	v=$(($(cat /sys/bus/pci/devices/$f/vendor)))
	d=$(($(cat /sys/bus/pci/devices/$f/device)))
	udkctl props "/PCIHost/$f" >"$T/props" 2>&1
	check "$f is published" contains "$T/tree" "$f"
	check "$f has vendor-id $v and device-id $d" sh -c "grep -qF '\"vendor-id\" = $v' $T/props && grep -qF '\"device-id\" = $d' $T/props"
done
udkctl props /PCIHost/0000:00:02.0 >"$T/edu" 2>&1
check "the edu function is 1234:11e8, class 0x00ff00, revision 0x10" sh -c "
	grep -qF '\"vendor-id\" = 4660' $T/edu && grep -qF '\"device-id\" = 4584' $T/edu &&
	grep -qF '\"class-code\" = 65280' $T/edu && grep -qF '\"revision-id\" = 16' $T/edu &&
	grep -qF '\"IOName\" = \"pci1234,11e8\"' $T/edu"
note "$(grep -E 'subsystem|class|revision' $T/edu | tr -d '\n')"
udkctl explain org.udk.example.edu /PCIHost/0000:00:02.0 >"$T/explain" 2>&1
check "explain: the edu personality matches the real device" contains "$T/explain" "IOPCIPrimaryMatch: device/vendor 0x11e81234 matches"
udkctl explain org.udk.example.capture /PCIHost/0000:00:02.0 >"$T/explain2" 2>&1
check "explain: the capture personality does not" contains "$T/explain2" "0xca9f1234"
sed 's/^/# /' "$T/explain"
# unbound (this test runs before any test binds it): the driver's refusal says how to give it to vfio-pci
if [ -e /sys/bus/pci/devices/0000:00:02.0/driver ]; then
	skip "explain: the refusal on an unbound function says driver_override" "00:02.0 is bound already"
else
	check "explain: the refusal on an unbound function names it and says driver_override" wait_for 30 sh -c \
		"'$B/tools/udkctl' --runtime-dir $T/run explain org.udk.example.edu /PCIHost/0000:00:02.0 | grep -qF '0000:00:02.0 is bound to no kernel driver; to drive it with udk, give it to vfio-pci: modprobe vfio-pci; echo vfio-pci > /sys/bus/pci/devices/0000:00:02.0/driver_override'"
fi
