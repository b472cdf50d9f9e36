#!/bin/sh
# A VFIO function removed while its driver holds it (sysfs remove, as a hot
# unplug does): the kernel waits until every descriptor of the device is
# closed and asks user space for it through VFIO's request interrupt.  The
# driver library passes the request to udkd, which treats the function as
# gone: the nub is terminated, the driver stopped, and the kernel finishes
# the removal instead of waiting for as long as the driver runs.  A rescan
# brings the function back: udkd follows the kernel's uevents, publishes it
# again, and once it is bound to vfio-pci the edu driver drives it, with no
# restart of udkd.
# qemu: -device intel-iommu
# qemu: -device edu,id=edu0,addr=02.0,dma_mask=0xffffffff
# modules: vfio_pci vfio_iommu_type1
# cmdline: intel_iommu=on
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

fn=0000:00:02.0
dev=/sys/bus/pci/devices/$fn
plan 12
[ -e "$dev/driver" ] && echo "$fn" >"$dev/driver/unbind"
echo vfio-pci >"$dev/driver_override"
echo "$fn" >/sys/bus/pci/drivers_probe
check "$fn is bound to vfio-pci" sh -c "readlink $dev/driver | grep -q /vfio-pci\$"
check "udkd starts with --pci-sysfs" udkd_start --pci-sysfs
check "the edu driver starts on it" wait_for 60 sh -c "'$B/tools/udkctl' --runtime-dir $T/run tree | grep -q EduDriver"
timeout 60 "$B/examples/edu-app" --runtime-dir "$T/run" --factorial 5 --irqs 0 --rounds 0 >"$T/app" 2>&1
sed 's/^/# /' "$T/app"
pid=$(sed -n 's/.*driver pid \([0-9]*\).*/\1/p' "$T/app")
check "the driver drives the function (pid $pid)" sh -c "[ -n '$pid' ] && grep -qF '5! = 120' $T/app"

# removed while the driver holds the device: bounded, in case nobody answers the kernel
t0=$(date +%s%N)
timeout 60 sh -c "echo 1 >$dev/remove"
rc=$?
t1=$(date +%s%N)
note "the removal returned $rc after $(( (t1 - t0) / 1000000 )) ms"
check "the kernel's removal finishes while udkd runs" test "$rc" = 0
check "the function is gone from sysfs" test ! -e "$dev"
check "the driver passed the kernel's request on and udkd took the function away" sh -c \
	"grep -qF 'the kernel asks for $fn back' $T/udkd.log &&
	 grep -qF 'device $fn: the kernel asked for PCI function $fn back' $T/udkd.log"
check "the driver (pid $pid) ended and its nub is gone" wait_for 20 sh -c \
	"! kill -0 $pid 2>/dev/null && ! '$B/tools/udkctl' --runtime-dir $T/run tree | grep -qF '$fn'"
grep -F "$fn" "$T/udkd.log" | sed 's/^/# /'

# back: udkd follows the kernel's uevents, no restart
echo 1 >/sys/bus/pci/rescan
check "a rescan gives the kernel the function back" wait_for 20 test -e "$dev"
check "udkd publishes it again (no kernel driver: read-only)" wait_for 20 sh -c \
	"'$B/tools/udkctl' --runtime-dir $T/run props /PCIHost/$fn 2>/dev/null | grep -qF '\"UDKBackend\" = \"sysfs\"'"
echo vfio-pci >"$dev/driver_override"
echo "$fn" >/sys/bus/pci/drivers_probe
check "bound to vfio-pci, it is published as a VFIO function and the edu driver starts on it" wait_for 60 sh -c \
	"'$B/tools/udkctl' --runtime-dir $T/run props /PCIHost/$fn 2>/dev/null | grep -qF '\"UDKBackend\" = \"vfio\"' &&
	 '$B/tools/udkctl' --runtime-dir $T/run tree | grep -q EduDriver"
timeout 60 "$B/examples/edu-app" --runtime-dir "$T/run" --factorial 6 --irqs 0 --rounds 1 --bytes 100 >"$T/app2" 2>&1
sed 's/^/# /' "$T/app2"
check "the driver drives the function that came back" sh -c "grep -qF '6! = 720' $T/app2 && grep -qF '100 bytes checked, 0 wrong' $T/app2"
grep -E "device $fn: (published|the PCI function)" "$T/udkd.log" | sed 's/^/# /'
# as the tests after this one expect it: bound to no driver
udkd_stop
echo "$fn" >"$dev/driver/unbind" 2>/dev/null
echo >"$dev/driver_override"
