#!/bin/sh
# When VFIO cannot be used, the refusal names the device and says what to
# do: a group that is not viable (another function of it bound to a kernel
# driver), a function bound to another driver, a missing /dev/vfio.
# Two edu functions of one slot share an IOMMU group (no ACS).
# qemu: -device intel-iommu
# qemu: -device edu,id=edu0,addr=02.0,dma_mask=0xffffffff
# qemu: -device edu,id=edu4a,addr=04.0,multifunction=on,dma_mask=0xffffffff
# qemu: -device edu,id=edu4b,addr=04.1,dma_mask=0xffffffff
# modules: vfio_pci vfio_iommu_type1 uio_pci_generic
# cmdline: intel_iommu=on
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

give() { # give FUNCTION DRIVER
	d=/sys/bus/pci/devices/$1
	[ -e "$d/driver" ] && echo "$1" >"$d/driver/unbind"
	echo "$2" >"$d/driver_override"
	echo "$1" >/sys/bus/pci/drivers_probe
}
explain_has() { # explain_has FUNCTION TEXT: the edu personality's explanation says TEXT
	udkctl explain org.udk.example.edu "/PCIHost/$1" >"$T/explain" 2>&1 && grep -qF -- "$2" "$T/explain"
}
plan 7
g4a=$(basename "$(readlink /sys/bus/pci/devices/0000:00:04.0/iommu_group)")
g4b=$(basename "$(readlink /sys/bus/pci/devices/0000:00:04.1/iommu_group)")
note "IOMMU groups: 04.0 in $g4a, 04.1 in $g4b"
give 0000:00:02.0 vfio-pci
give 0000:00:04.0 vfio-pci
give 0000:00:04.1 uio_pci_generic
check "04.1 is bound to uio_pci_generic" sh -c "readlink /sys/bus/pci/devices/0000:00:04.1/driver | grep -q uio_pci_generic"
check "udkd starts with --pci-sysfs" udkd_start --pci-sysfs
if [ "$g4a" = "$g4b" ]; then
	check "a group that is not viable: the refusal names the function in the way and how to free it" wait_for 60 \
		explain_has 0000:00:04.0 "IOMMU group $g4a of 0000:00:04.0 is not viable: 0000:00:04.1 in the same group is bound to the kernel driver uio_pci_generic"
	sed 's/^/# /' "$T/explain"
	check "... and says driver_override" grep -qF "echo vfio-pci > /sys/bus/pci/devices/0000:00:04.1/driver_override" "$T/explain"
else
	skip "a group that is not viable" "04.0 and 04.1 got groups $g4a and $g4b: this kernel split them"
	skip "... and says driver_override" "no shared group"
fi
check "a function bound to another driver: the driver's refusal names it and says driver_override" wait_for 60 \
	explain_has 0000:00:04.1 "0000:00:04.1 is bound to the kernel driver uio_pci_generic; to drive it with udk, give it to vfio-pci: modprobe vfio-pci; echo vfio-pci > /sys/bus/pci/devices/0000:00:04.1/driver_override"
sed 's/^/# /' "$T/explain"
udkd_stop
check "udkd starts with a VFIO directory that does not exist" udkd_start --pci-sysfs "--vfio-dir=$T/no-vfio"
check "a missing /dev/vfio: the refusal names the function and says to load vfio-pci" wait_for 60 \
	explain_has 0000:00:02.0 "0000:00:02.0: cannot open $T/no-vfio/vfio: No such file or directory; load the vfio-pci module (modprobe vfio-pci)"
sed 's/^/# /' "$T/explain"
