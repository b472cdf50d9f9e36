#!/bin/sh
# The bulk-only mass-storage driver on QEMU's usb-storage, a SCSI controller
# of the SCSI family: the test writes blocks through the kernel's own
# usb-storage and sd (/dev/sdX), then udk takes the interface; the family
# scans the LUN (INQUIRY: "QEMU" "QEMU HARDDISK"), the SCSI disk driver makes
# it a udk block device of 64 MiB which gives back the blocks written; an
# unknown command through `udkctl scsi` comes back as CHECK CONDITION with
# its sense; Linux reads the disk through udk over NBD.  After udk, the
# kernel's driver has the disk again and the blocks udk wrote are there.
# qemu: -device qemu-xhci,id=xhci,addr=06.0
# qemu: -device bochs-display,id=vid0,addr=0b.0
# qemu: -device usb-kbd,bus=xhci.0,id=kbd0,display=vid0
# qemu: -chardev udp,id=ser0,host=127.0.0.1,port=47123,localaddr=127.0.0.1,localport=47123
# qemu: -device usb-serial,bus=xhci.0,chardev=ser0,id=ftdi0,always-plugged=on
# qemu: -drive if=none,id=ud,driver=null-co,read-zeroes=on,size=67108864,snapshot=on
# qemu: -device usb-storage,bus=xhci.0,drive=ud,id=stor0
# modules: xhci_pci usbhid hid_generic evdev usb_storage sd_mod sg ftdi_sio nbd
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"
. "$UDK_SOURCE_ROOT/tests/guest/lib/usb.sh"

app() { "$B/examples/usb-storage-app" --runtime-dir "$T/run" "$@"; }
udkctl() { "$B/tools/udkctl" --runtime-dir "$T/run" "$@"; }
# pattern block b byte i: (b * 7 + i + seed) & 0xff, as usb-storage-app writes it
pattern() {
	python3 -c "import sys
lba, n, seed = map(int, sys.argv[1:4])
sys.stdout.buffer.write(bytes(((lba + b) * 7 + i + seed) & 0xff for b in range(n) for i in range(512)))" "$@"
}

plan 13
check "QEMU's disk enumerates, bound to usb-storage" wait_for 30 sh -c \
	". $S/tests/guest/lib/usb.sh; d=\$(usb_find 46f4:0001) && [ \"\$(usb_kernel_driver \$d 0)\" = usb-storage ]"
stor=$(usb_find 46f4:0001)
check "the kernel's sd gives it a block device" wait_for 30 sh -c ". $S/tests/guest/lib/usb.sh; usb_disk $stor"
dev=/dev/$(usb_disk "$stor")
note "block device $dev"
pattern 200 8 3 >"$T/blocks"
check "the test writes 8 blocks at 200 through the kernel's driver" \
	dd if="$T/blocks" of="$dev" bs=512 seek=200 count=8 oflag=direct conv=fsync status=none
check "udkd starts with the mass-storage and SCSI disk drivers" usb_udkd_start UsbStorage.dext SCSIDisk.dext -- --usb-sysfs
check "BotDriver, its LUN and a udk block device" wait_for 60 tree_has IOUserBlockStorageDevice
app --info >"$T/inq" 2>&1
sed 's/^/# /' "$T/inq"
check "the family's INQUIRY through udk: QEMU QEMU HARDDISK (usbfs)" sh -c \
	"grep -qF 'USB mass storage 46f4:0001, bulk-only interface 0, 1 LUN(s), usbfs backend' $T/inq && grep -qF '\"QEMU\" \"QEMU HARDDISK\"' $T/inq"
check "the block device: 64 MiB" contains "$T/inq" "131072 blocks of 512 bytes (64.0 MiB)"
bdev=$(sed -n 's/^block device \([^:]*\):.*/\1/p' "$T/inq")
lun=${bdev%/SCSIDisk/BlockStorageDevice}
app --verify 200 --count 8 --seed 3 >"$T/v" 2>&1
sed 's/^/# /' "$T/v"
check "a read through udk gives back the blocks the test wrote" contains "$T/v" "read 8 blocks at 200: 0 bytes differ from the pattern"
udkctl scsi "$lun" ff 00 00 00 00 00 >"$T/cdb" 2>&1
sed 's/^/# /' "$T/cdb"
check "an unknown command: CHECK CONDITION, ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE" sh -c \
	"grep -q 'CHECK CONDITION' $T/cdb && grep -q 'INVALID COMMAND OPERATION CODE' $T/cdb"
# Linux reads the USB disk through udk: nbdkit serves the udk block device, nbd-client attaches it
nbdkit -f -U "$T/nbd.sock" "$B/families/block/nbdkit-udk-plugin.so" service="$bdev" runtime-dir="$T/run" \
	>"$T/nbdkit.log" 2>&1 &
nbdkit=$!
wait_for 10 test -S "$T/nbd.sock"
check "Linux reads the blocks through udk over NBD (/dev/nbd0)" sh -c \
	"nbd-client -unix $T/nbd.sock /dev/nbd0 -b 512 >/dev/null && dd if=/dev/nbd0 bs=512 skip=200 count=8 iflag=direct status=none | cmp -s - $T/blocks"
nbd-client -d /dev/nbd0 >/dev/null 2>&1
kill "$nbdkit" 2>/dev/null
wait "$nbdkit" 2>/dev/null
app --write 300 --count 4 --seed 11 >"$T/w" 2>&1
sed 's/^/# /' "$T/w"
check "a write through udk" contains "$T/w" "wrote 4 blocks at 300"
udkd_stop
check "after udk, the kernel has the disk again" wait_for 30 sh -c ". $S/tests/guest/lib/usb.sh; usb_disk $stor"
dev=/dev/$(usb_disk "$stor")
pattern 300 4 11 >"$T/want"
check "the blocks udk wrote are on the disk" sh -c \
	"dd if=$dev bs=512 skip=300 count=4 iflag=direct status=none | cmp -s - $T/want"
