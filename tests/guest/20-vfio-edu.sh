#!/bin/sh
# The edu driver (the binary CI runs against the simulated edu) drives QEMU's
# real edu through VFIO, behind QEMU's emulated Intel IOMMU: ID, factorial by
# MSI, DMA round trips checked byte by byte, a DMA the driver did not prepare
# blocked by the IOMMU (a DMAR fault in the kernel log, memory untouched),
# reset refused (edu has none), and a SIGKILL during DMA: udkd says the
# device has no reset method and restarts the driver, which works.
# qemu: -device intel-iommu
# qemu: -device edu,id=edu0,addr=02.0,dma_mask=0xffffffff
# modules: vfio_pci vfio_iommu_type1
# cmdline: intel_iommu=on
# timeout: 300
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

fn=0000:00:02.0
dev=/sys/bus/pci/devices/$fn
plan 19
check "the kernel has an IOMMU group for $fn" test -e "$dev/iommu_group"
group=$(basename "$(readlink "$dev/iommu_group")")
echo vfio-pci >"$dev/driver_override"
echo "$fn" >/sys/bus/pci/drivers_probe
check "$fn is bound to vfio-pci" sh -c "readlink $dev/driver | grep -q /vfio-pci\$"
check "/dev/vfio/vfio and /dev/vfio/$group exist" test -c /dev/vfio/vfio -a -c "/dev/vfio/$group"

check "udkd starts with --pci-sysfs" udkd_start --pci-sysfs
udkctl props "/PCIHost/$fn" >"$T/props" 2>&1
check "$fn is published with backend vfio and IOMMU group $group" sh -c \
	"grep -qF '\"UDKBackend\" = \"vfio\"' $T/props && grep -qF '\"UDKIOMMUGroup\" = $group' $T/props"
check "the edu driver starts on it" wait_for 60 sh -c "'$B/tools/udkctl' --runtime-dir $T/run tree | grep -q EduDriver"

dmesg -c >/dev/null 2>&1
"$B/examples/edu-app" --runtime-dir "$T/run" --factorial 10 --irqs 200 --rounds 5 --bytes 4095 --iommu-probe \
	--reset >"$T/app" 2>&1
rc=$?
sed 's/^/# /' "$T/app"
check "edu-app exits 0" test $rc = 0
check "the ID register reads 0x010000ed through VFIO" contains "$T/app" "edu: id 0x010000ed (version 1.0), backend vfio at 00:02.0, liveness ok"
check "the device computes 10! and announces it by MSI" contains "$T/app" "10! = 3628800 (mod 2^32), announced by MSI: correct"
check "200 MSIs reach the driver's dispatch queue" contains "$T/app" "MSI latency, raise register to driver handler, 200 interrupts"
check "5 DMA round trips of 4095 bytes, every byte right" contains "$T/app" "4095 bytes to the device and back, 5 rounds: 20475 bytes checked, 0 wrong"
# VFIO does not tell user space of IOMMU faults: the driver counts none
check "a DMA to an IOVA the driver completed leaves its memory untouched" contains "$T/app" "memory untouched; faults the driver was told of: 0"
dmesg >"$T/dmesg" 2>&1
grep -i dmar "$T/dmesg" | sed 's/^/# kernel: /'
check "the IOMMU blocked it: a DMAR fault for 00:02.0 in the kernel log" sh -c "grep -i 'DMAR' $T/dmesg | grep -qi '00:02.0'"
check "reset is refused: edu has no reset method (VFIO_DEVICE_RESET: EINVAL)" \
	contains "$T/app" "has no reset method (no function level, power management or bus reset; VFIO_DEVICE_RESET: Invalid argument)"

# SIGKILL during a DMA (QEMU's edu takes 100 ms for one)
"$B/examples/edu-app" --runtime-dir "$T/run" --start-dma >"$T/start" 2>&1
sed 's/^/# /' "$T/start"
pid=$(sed -n 's/.*DMA started (running), driver pid \([0-9]*\).*/\1/p' "$T/start")
if [ -n "$pid" ] && kill -9 "$pid"; then ok "the driver is killed during a DMA (pid $pid)"; else not_ok "start a DMA and kill the driver"; fi
newpid() {
	"$B/examples/edu-app" --runtime-dir "$T/run" --factorial 0 --irqs 0 --rounds 0 --wait 1000 >"$T/again" 2>&1 &&
		p=$(sed -n 's/.*driver pid \([0-9]*\).*/\1/p' "$T/again") && [ -n "$p" ] && [ "$p" != "$pid" ]
}
check "udkd restarts the driver" wait_for 60 newpid
check "udkd says the device has no reset method, after the driver died" \
	contains "$T/udkd.log" "device $fn: its driver died; the device has no reset method"
grep "its driver died" "$T/udkd.log" | sed 's/^/# /'
newp=$(sed -n 's/.*driver pid \([0-9]*\).*/\1/p' "$T/again")
check "... before the restarted driver (pid $newp) started" awk -v p="pid $newp," '
	/its driver died; the device has no reset method/ { reset = NR }
	index($0, "started EduDriver") && index($0, p) { started = NR }
	END { exit !(reset && started && reset < started) }' "$T/udkd.log"
"$B/examples/edu-app" --runtime-dir "$T/run" --factorial 6 --irqs 10 --rounds 2 --bytes 1000 >"$T/app2" 2>&1
sed 's/^/# /' "$T/app2"
check "the restarted driver drives the device" sh -c "grep -qF '6! = 720' $T/app2 && grep -qF '2000 bytes checked, 0 wrong' $T/app2"
