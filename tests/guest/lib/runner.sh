#!/bin/sh
# Runs inside the guest, in a chroot of the host's root (see lib/init):
# each test of the plan scripts/guest.sh wrote, after loading the modules
# it declared.  Results go to the 9p share: NAME.tap (stdout), NAME.log
# (stderr), NAME.rc, NAME.time.
out=/tmp/udk-guest-out
. "$out/env"
export UDK_SOURCE_ROOT UDK_BUILD_ROOT UDK_GUEST_KROOT UDK_GUEST_KVER UDK_GUEST_TESTS
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp LC_ALL=C.UTF-8
tab=$(printf '\t')
while IFS="$tab" read -r name tmo mods; do
	echo "udk-guest: begin $name"
	: >"$out/$name.tap"
	t0=$(date +%s.%N)
	failed=""
	for m in $mods; do
		modprobe -d "$UDK_GUEST_KROOT" -S "$UDK_GUEST_KVER" "$m" 2>>"$out/$name.log" || failed="$failed $m"
	done
	if [ -n "$failed" ]; then
		printf '1..1\nnot ok 1 - modprobe%s failed (see stderr)\n' "$failed" >"$out/$name.tap"
		rc=1
	else
		timeout -k 5 "$tmo" sh "${UDK_GUEST_TESTS:-$UDK_SOURCE_ROOT/tests/guest}/$name.sh" >"$out/$name.tap" 2>>"$out/$name.log" </dev/null
		rc=$?
	fi
	echo "$(date +%s.%N) $t0" | awk '{printf "%.2f\n", $1 - $2}' >"$out/$name.time"
	echo "$rc" >"$out/$name.rc"
	echo "udk-guest: end $name (status $rc)"
done <"$out/plan"
sync
