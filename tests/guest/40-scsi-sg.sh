#!/bin/sh
# The SCSI family on the kernel's SCSI stack: scsi_debug gives a disk and its
# sg device; udkd --scsi-sg publishes it, the SG_IO controller driver sends
# the family's tasks with SG_IO, the scan finds the LUN, `udkctl scsi` sends
# raw CDBs (the seed's INQUIRY, READ CAPACITY(16), an opcode it rejects), and
# data written through udk reads back through the kernel's own block device.
# modules: scsi_debug sg sd_mod
# timeout: 180
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

# every udkctl call is bounded: a hang fails its check instead of the whole test
uc() { timeout 60 "$B/tools/udkctl" --runtime-dir "$T/run" "$@"; }

plan 13
sg=""
for d in /sys/class/scsi_generic/sg*; do
	[ "$(cat "$d/device/model" 2>/dev/null | tr -d ' ')" = scsi_debug ] && sg=$(basename "$d")
done
check "scsi_debug has an sg device" test -n "$sg"
check "/dev/$sg exists" test -c "/dev/$sg"
sd=$(ls "/sys/class/scsi_generic/$sg/device/block" 2>/dev/null | head -n 1)
check "udkd starts with --scsi-sg" udkd_start --scsi-sg
check "the SG_IO controller scans the LUN" wait_for 20 sh -c "timeout 10 '$B/tools/udkctl' --runtime-dir $T/run tree | grep -q Target0-LUN0"
uc tree | sed 's/^/# /'
lun=/SCSIHost/$sg/SGIOController/Target0-LUN0
uc props "$lun" >"$T/props" 2>&1
check "the LUN's nub has the device type, vendor and product" sh -c "
	grep -qF '\"Peripheral Device Type\" = 0' $T/props && grep -qF '\"Vendor Identification\" = \"Linux\"' $T/props &&
	grep -qF '\"Product Identification\" = \"scsi_debug\"' $T/props"

# the seed: INQUIRY 12 00 00 00 24 00 answers 36 bytes with the vendor and product
uc scsi "$lun" --decode -r 512 12 00 00 00 24 00 >"$T/inq" 2>&1
check "INQUIRY with allocation length 0x24 returns 36 bytes" contains "$T/inq" "Received 36 bytes of data:"
check "and they name the vendor and product" sh -c "grep -qF 'Vendor identification: Linux' $T/inq && grep -qF 'Product identification: scsi_debug' $T/inq"
# an opcode the device does not implement: ILLEGAL REQUEST 20/00 in words
uc scsi "$lun" c9 00 00 00 00 00 00 00 00 00 >"$T/bad" 2>&1
check "a rejected opcode: sense key 5, ASC 0x20, in words" contains "$T/bad" "sense key ILLEGAL REQUEST (0x5), ASC 0x20 ASCQ 0x00: INVALID COMMAND OPERATION CODE"
sed 's/^/# /' "$T/bad"

# READ CAPACITY(16) agrees with the kernel's view of the disk
uc scsi "$lun" --decode -r 32 9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00 >"$T/cap" 2>&1
blocks=$(cat "/sys/block/$sd/size" 2>/dev/null)
check "READ CAPACITY(16): the last LBA the kernel sees" contains "$T/cap" "Last LBA: $((blocks - 1))"

# data written with WRITE(10) through SG_IO reads back through /dev/$sd
head -c 4096 /dev/urandom >"$T/data"
uc scsi "$lun" -s 4096 -i "$T/data" 2a 00 00 00 01 00 00 00 08 00 >"$T/w" 2>&1
check "WRITE(10) of 8 blocks at LBA 256 completes GOOD" contains "$T/w" "SCSI status: GOOD"
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
dd if="/dev/$sd" of="$T/back" bs=512 skip=256 count=8 iflag=direct 2>/dev/null
check "the kernel's block device reads the same bytes" cmp "$T/data" "$T/back"
uc scsi "$lun" -r 4096 -o "$T/back2" 28 00 00 00 01 00 00 00 08 00 >"$T/r" 2>&1
check "READ(10) through udk reads them too" cmp "$T/data" "$T/back2"
check "the LUN became a udk block device (SCSIDisk)" wait_for 20 sh -c "timeout 10 '$B/tools/udkctl' --runtime-dir $T/run tree | grep -q IOUserBlockStorageDevice"
