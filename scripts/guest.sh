#!/bin/sh
# guest.sh - run the guest tests (tests/guest/*.sh) on Debian's own kernel in
# a QEMU virtual machine, for the kernel interfaces this machine's kernel
# lacks (VFIO behind an IOMMU today; USB, SCSI, HID, audio, NBD next).
#
#   scripts/guest.sh [--build DIR] [--json FILE] [--timeout S] [TEST...]
#
# It installs what it needs with apt (QEMU, busybox-static, cpio, kmod),
# downloads Debian's kernel package (the one linux-image-amd64 depends on)
# and unpacks it under DIR/guest/kernel without installing it, builds a
# small initramfs, and boots the kernel once for all tests.  The guest
# mounts this machine's root read-only over 9p and runs each test in a
# chroot of it, so the build tree's programs run unchanged.  One boot runs
# every test; each test file says which QEMU devices and kernel modules it
# needs (docs/guest-rig.md).
#
# Results: TAP on stdout, and with --json FILE one meson-testlog-like line
# per test for scripts/summarize.py.  Each test ends as pass, fail, skip, or
# "no result" when the guest did not finish it (timeout, QEMU abort, guest
# panic): no result counts as failed, with the console's tail in the log.
# Where the rig cannot run at all (no root to install packages, no kernel
# package) every test is reported skipped with the reason, never passed.
#
# DIR defaults to build-gcc.  UDK_GUEST_SKIP=reason skips on purpose.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
build=build-gcc
json=""
total_timeout=""
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--build=*) build=${1#--build=}; shift ;;
	--json) json=$2; shift 2 ;;
	--json=*) json=${1#--json=}; shift ;;
	--timeout) total_timeout=$2; shift 2 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	-*) echo "guest.sh: unknown option $1" >&2; exit 2 ;;
	*) only="$only $1"; shift ;;
	esac
done

started=$(date +%s)
# UDK_GUEST_TESTS: another directory of guest scripts (bench/guest: the guest benchmarks)
tests_dir="${UDK_GUEST_TESTS:-$top/tests/guest}"
tests_dir=$(cd "$tests_dir" && pwd)
tests=""
for f in "$tests_dir"/[0-9]*.sh; do
	[ -f "$f" ] || continue
	n=$(basename "$f" .sh)
	if [ -n "$only" ]; then
		case " $only " in *" $n "*) ;; *) continue ;; esac
	fi
	tests="$tests $n"
done

# json_line NAME RESULT DURATION STDOUT-FILE [CONSOLE-FILE]
json_line() {
	[ -n "$json" ] || return 0
	python3 - "$@" >>"$json" <<'EOF'
import json, sys
name, result, duration, out = sys.argv[1:5]
console = sys.argv[5] if len(sys.argv) > 5 else ""
def text(p):
    try:
        with open(p, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
d = {"name": "guest/" + name, "result": result, "duration": float(duration), "stdout": text(out)}
if console:
    d["console_tail"] = "".join(text(console).splitlines(True)[-40:])
print(json.dumps(d))
EOF
}

# Nothing can run: every test is a skip with @reason.
skip_all() {
	echo "1..0 # SKIP guest tests: $1"
	tmp=$(mktemp)
	for t in $tests; do
		printf '1..0 # SKIP %s\n' "$1" >"$tmp"
		json_line "$t" SKIP 0 "$tmp"
	done
	rm -f "$tmp"
	exit 0
}

[ -n "$json" ] && : >"$json"
[ -n "$tests" ] || { echo "guest.sh: no tests in $tests_dir${only:+ named$only}" >&2; exit 2; }
[ -n "${UDK_GUEST_SKIP:-}" ] && skip_all "UDK_GUEST_SKIP says: $UDK_GUEST_SKIP"
[ -d "$build" ] || skip_all "no build directory $build (build first: meson setup $build && ninja -C $build)"
build=$(cd "$build" && pwd)
[ "$(uname -m)" = x86_64 ] || skip_all "the rig boots an x86_64 Debian kernel under qemu-system-x86_64; this is $(uname -m)"

# ---- packages ----
need="qemu-system-x86 busybox-static cpio kmod python3 coreutils"
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || skip_all "missing packages:$missing (run as root, or: sudo apt-get install$missing)"
	echo "== guest: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; } ||
		skip_all "apt-get could not install$missing"
fi
[ "$(id -u)" = 0 ] || skip_all "QEMU's 9p share of / needs root to read every file of the build tree and system"

# ---- the kernel: Debian's, unpacked, never installed ----
cache="$build/guest"
mkdir -p "$cache/kernel"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
	apt-get update -q >/dev/null 2>&1
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || skip_all "apt-cache knows no linux-image-amd64 (no Debian package lists?)"
kdir="$cache/kernel/$pkg"
if [ ! -f "$kdir/ready" ]; then
	echo "== guest: fetching $pkg (unpacked under $kdir, not installed)"
	for old in "$cache/kernel"/*; do
		[ "$old" = "$kdir" ] || rm -rf "$old"
	done
	rm -rf "$kdir"
	mkdir -p "$kdir/deb"
	(cd "$kdir/deb" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
		skip_all "apt-get download $pkg failed"
	dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root" || skip_all "dpkg-deb -x of $pkg failed"
	rm -rf "$kdir/deb"
	kver=$(ls "$kdir/root/lib/modules")
	depmod -b "$kdir/root" "$kver" || skip_all "depmod on $pkg failed"
	# the decompressed ELF boots through its PVH entry: seconds faster than vmlinuz
	python3 - "$kdir/root/boot/vmlinuz-$kver" "$kdir/vmlinux" <<'EOF' || skip_all "cannot decompress vmlinuz of $pkg"
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")
while at >= 0:
    try:
        out = lzma.LZMADecompressor().decompress(data[at:])
        if out[:4] == b"\x7fELF":
            open(sys.argv[2], "wb").write(out)
            sys.exit(0)
    except lzma.LZMAError:
        pass
    at = data.find(b"\xfd7zXZ\x00", at + 1)
sys.exit("no xz-compressed ELF in " + sys.argv[1])
EOF
	echo "$kver" >"$kdir/ready"
fi
kver=$(cat "$kdir/ready")
kroot="$kdir/root"

# ---- what the tests declare: QEMU devices, modules, kernel arguments ----
# header lines "# qemu: ...", "# modules: ...", "# cmdline: ...", "# timeout: S"
run="$cache/run"
rm -rf "$run"
mkdir -p "$run"
chmod 755 "$run"
qemu_first=""
qemu_rest=""
cmdline=""
sum_timeout=0
: >"$run/plan"
for t in $tests; do
	f="$tests_dir/$t.sh"
	mods=$(sed -n 's/^# modules:[[:space:]]*//p' "$f" | tr '\n' ' ')
	tmo=$(sed -n 's/^# timeout:[[:space:]]*\([0-9]*\).*/\1/p' "$f" | head -1)
	tmo=${tmo:-120}
	sum_timeout=$((sum_timeout + tmo))
	printf '%s\t%s\t%s\n' "$t" "$tmo" "$mods" >>"$run/plan"
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		case "$qemu_first
$qemu_rest" in *"$line"*) continue ;; esac
		# an IOMMU must be created before the devices behind it
		case "$line" in
		*intel-iommu*|*amd-iommu*|*virtio-iommu*) qemu_first="$qemu_first
$line" ;;
		*) qemu_rest="$qemu_rest
$line" ;;
		esac
	done <<EOF
$(sed -n 's/^# qemu:[[:space:]]*//p' "$f")
EOF
	for a in $(sed -n 's/^# cmdline:[[:space:]]*//p' "$f"); do
		case " $cmdline " in *" $a "*) ;; *) cmdline="$cmdline $a" ;; esac
	done
done
total_timeout=${total_timeout:-$((sum_timeout + 120))}
cat >"$run/env" <<EOF
UDK_SOURCE_ROOT='$top'
UDK_BUILD_ROOT='$build'
UDK_GUEST_KROOT='$kroot'
UDK_GUEST_KVER='$kver'
UDK_GUEST_TESTS='$tests_dir'
EOF

# ---- the initramfs: busybox, the 9p modules, /init ----
initrd="$cache/initramfs"
rm -rf "$initrd"
mkdir -p "$initrd/bin" "$initrd/lib"
cp /bin/busybox "$initrd/bin/busybox"
cp "$top/tests/guest/lib/init" "$initrd/init"
chmod 755 "$initrd/init"
i=0
: >"$run/initrd-modules"
for m in virtio_pci 9pnet_virtio 9p; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>>"$run/modprobe.err" |
		awk '$1 == "insmod" {print $2}' >>"$run/initrd-modules"
done
: >"$initrd/lib/modules.load"
while read -r ko; do
	i=$((i + 1))
	name=$(printf '%02d-%s' "$i" "$(basename "$ko")")
	grep -q "$(basename "$ko")" "$initrd/lib/modules.load" && continue
	cp "$ko" "$initrd/lib/$name"
	echo "$name" >>"$initrd/lib/modules.load"
done <"$run/initrd-modules"
grep -q 9p.ko "$initrd/lib/modules.load" || skip_all "$pkg has no 9p module: $(cat "$run/modprobe.err")"
(cd "$initrd" && find . | cpio -o -H newc --quiet) >"$cache/initrd.cpio" || skip_all "cpio failed"

# ---- boot once, run every test ----
echo "== guest: booting $pkg ($kver) under QEMU (TCG) for:$tests"
# the rig's own devices sit at slots 1c and 1d; tests put theirs at 02..1b.
# no_timer_check: under TCG on a busy host the kernel's IO-APIC timer check
# can fail and panic ("timer doesn't work through Interrupt-remapped
# IO-APIC", seen with intel-iommu); the check proves nothing in a VM.
# shellcheck disable=SC2086
set -- -accel tcg -machine q35 -cpu max -smp 1 -m 1536 -display none -vga none -monitor none -serial stdio \
	-no-reboot -nic none -kernel "$kdir/vmlinux" -initrd "$cache/initrd.cpio" \
	-append "console=ttyS0 panic=-1 quiet no_timer_check$cmdline" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-fsdev local,id=fs1,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=fs1,mount_tag=hostroot,addr=1c.0 \
	-fsdev "local,id=fs2,path=$run,security_model=none" \
	-device virtio-9p-pci,fsdev=fs2,mount_tag=out,addr=1d.0 \
	-qmp "unix:$run/qmp.sock,server=on,wait=off" \
	-chardev "socket,id=hostagent,path=$run/agent.sock,server=on,wait=off" -serial chardev:hostagent \
	$(printf '%s\n%s\n' "$qemu_first" "$qemu_rest" | tr '\n' ' ')
printf '%s\n' "qemu-system-x86_64 $*" >"$run/qemu.cmd"
boot=$(date +%s)
# the host agent: QMP for guest tests through the guest's ttyS1 (tests/guest/lib/qmp.py)
python3 "$tests_dir/lib/host-agent.py" "$run/qmp.sock" "$run/agent.sock" 2>"$run/agent.err" &
agent=$!
timeout -k 10 "$total_timeout" qemu-system-x86_64 "$@" </dev/null >"$run/console.log" 2>"$run/qemu.err"
qrc=$?
kill "$agent" 2>/dev/null
wait "$agent" 2>/dev/null
guest_s=$(($(date +%s) - boot))

# why the guest did not finish, if it did not: the reason for "no result"
why=""
case $qrc in
33) ;; # the runner wrote 0x10 to isa-debug-exit: every test ran
124|137) why="timed out after ${total_timeout} s (QEMU killed)" ;;
0)
	panic=$(grep -m1 -a "Kernel panic" "$run/console.log")
	why=${panic:+guest kernel panic: $panic}
	why=${why:-"the guest stopped before its tests ended (QEMU exit 0: a panic or a power-off, never a pass)"} ;;
*)
	# QEMU's own words: its error line ("qemu: hardware error: ..."), not the register dump after it
	msg=$(grep -m1 -a -E '^qemu(-system-x86_64)?: ' "$run/qemu.err")
	why="QEMU exited with status $qrc: ${msg:-$(tail -n 1 "$run/qemu.err")}" ;;
esac

# ---- results ----
passed=0 failed=0 skipped=0 noresult=0
for t in $tests; do
	tap="$run/$t.tap" rc_file="$run/$t.rc" log="$run/$t.log" res="$run/$t.result"
	dur=$(cat "$run/$t.time" 2>/dev/null || echo 0)
	if [ -f "$rc_file" ]; then
		rc=$(cat "$rc_file")
		cp "$tap" "$res"
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "not ok 999 - $t # NO RESULT: the test timed out inside the guest" >>"$res"
			result=TIMEOUT
		elif grep -q '^not ok' "$tap" || [ "$rc" != 0 ]; then
			result=FAIL
		elif grep -q '^ok' "$tap"; then
			result=OK
		elif grep -q '# SKIP' "$tap"; then
			result=SKIP
		else
			echo "not ok 1 - $t printed no TAP result" >>"$res"
			result=FAIL
		fi
	else
		# started (a .tap exists) or never reached: no result either way
		[ -f "$tap" ] && cp "$tap" "$res" || : >"$res"
		echo "not ok 999 - $t # NO RESULT: ${why:-the guest runner never reached it}" >>"$res"
		result=ERROR
	fi
	case $result in
	OK) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	TIMEOUT|ERROR) noresult=$((noresult + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
	echo "# ---- guest test $t: $result"
	sed 's/^/    /' "$res"
	if [ "$result" != OK ] && [ "$result" != SKIP ]; then
		echo "# $t: its stderr:"
		tail -n 40 "$log" 2>/dev/null | sed 's/^/#   /'
	fi
	[ -f "$log" ] && sed 's/^/# stderr: /' "$log" >>"$res"
	if [ "$result" = ERROR ] || [ "$result" = TIMEOUT ]; then
		json_line "$t" "$result" "$dur" "$res" "$run/console.log"
	else
		json_line "$t" "$result" "$dur" "$res"
	fi
done
if [ -n "$why" ]; then
	echo "# the guest did not finish: $why"
	echo "# console tail ($run/console.log):"
	tail -n 40 "$run/console.log" | sed 's/^/#   /'
fi
echo "# guest: $passed passed, $failed failed, $noresult without a result, $skipped skipped;" \
	"boot and tests ${guest_s} s, whole step $(($(date +%s) - started)) s"
[ $failed = 0 ] && [ $noresult = 0 ]
