#!/bin/sh
# A udk block device exported to Linux over NBD: a simulated disk
# (sim-hba, SimHBA, SCSIDisk) through the nbdkit plugin, attached with the
# kernel's nbd-client, then mkfs.ext4, mount, a file copied in, unmounted,
# mounted again and its checksum compared.
# modules: nbd ext4
# timeout: 240
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

plan 9
cat >"$T/machine.plist" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>Services</key><array/><key>Devices</key><array>
<dict><key>Name</key><string>disk0</string><key>Model</key><string>sim-hba</string>
<key>Properties</key><dict><key>Serial</key><string>NBD0001</string><key>Blocks</key><integer>262144</integer></dict></dict>
</array></dict></plist>
XML
check "udkd starts with a simulated disk" udkd_start --machine "$T/machine.plist"
dev=/PCI0/disk0/SimHBA/Target0-LUN0/SCSIDisk/BlockStorageDevice
check "the disk becomes a udk block device" wait_for 30 sh -c "'$B/tools/udkctl' --runtime-dir $T/run props $dev | grep -q UDKBlockIdentifier"
nbdkit -f -U "$T/nbd.sock" "$B/families/block/nbdkit-udk-plugin.so" service="$dev" runtime-dir="$T/run" \
	>"$T/nbdkit.log" 2>&1 &
nbdkit=$!
check "nbdkit exports it" wait_for 10 test -S "$T/nbd.sock"
check "nbd-client attaches /dev/nbd0" nbd-client -unix "$T/nbd.sock" /dev/nbd0 -b 4096
check "mkfs.ext4 on it" mkfs.ext4 -q -F /dev/nbd0
mkdir -p "$T/mnt"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T/file"
sum=$(sha256sum <"$T/file")
check "mount, copy a 20 MiB file, unmount" sh -c "mount /dev/nbd0 $T/mnt && cp $T/file $T/mnt/file && sync && umount $T/mnt"
check "nbd-client detaches and attaches again" sh -c "nbd-client -d /dev/nbd0 && nbd-client -unix $T/nbd.sock /dev/nbd0 -b 4096"
check "the file system mounts again" mount /dev/nbd0 "$T/mnt"
check "the file's checksum is the same" test "$(sha256sum <"$T/mnt/file")" = "$sum"
umount "$T/mnt" 2>/dev/null
nbd-client -d /dev/nbd0 >/dev/null 2>&1
kill "$nbdkit" 2>/dev/null
wait "$nbdkit" 2>/dev/null
sed 's/^/# nbdkit: /' "$T/nbdkit.log" | tail -n 5
