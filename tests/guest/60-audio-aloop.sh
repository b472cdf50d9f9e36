#!/bin/sh
# The audio family on a real kernel sound card, snd-aloop: udkd publishes
# the card's PCMs (--alsa-dev-dir), the bridge driver (drivers/alsa-bridge,
# the same driver API as the simulated devices' driver) makes a udk audio
# device on each, and aplay and arecord use them through the udk ALSA
# plugin.  What aplay plays into udk:loopback-d0-out arrives on the kernel's
# own other end of the loop (arecord -D hw:Loopback,1,0) sample for sample,
# and what the kernel plays (aplay -D hw:Loopback,0,0) arrives through
# udk:loopback-d1-in.
# modules: snd_aloop
# timeout: 600
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

plan 11
A="env ALSA_CONFIG_PATH=/usr/share/alsa/alsa.conf:$B/families/audio/alsa/udk-build.conf UDK_RUNTIME_DIR=$T/run"
fmt="-t raw -f S16_LE -r 48000 -c 2"

check "snd-aloop's PCM nodes are there" wait_for 10 test -c /dev/snd/pcmC0D0p
check "udkd starts with --alsa-dev-dir" udkd_start --alsa-dev-dir=/dev/snd
check "the kernel's PCMs are published" timeout 60 sh -c "until '$B/tools/udkctl' --runtime-dir $T/run tree | grep -q pcmC0D0p; do sleep 1; done"
dump() {
	{
		echo "---- udkctl tree"
		"$B/tools/udkctl" --runtime-dir "$T/run" tree
		echo "---- udkctl drivers"
		"$B/tools/udkctl" --runtime-dir "$T/run" drivers org.udk.example.alsa-bridge
		echo "---- udkd log"
		tail -n 60 "$T/udkd.log"
	} >&2 2>&1
}
# until: a wall-clock bound (wait_for counts tries, and commands are slow under TCG)
until_ok() {
	timeout "$1" sh -c "until $2; do sleep 1; done" >/dev/null 2>&1
}
if until_ok 120 "'$B/tools/udkctl' --runtime-dir $T/run families audio | grep -q udk:loopback-d0-out"; then
	ok "the bridge makes udk:loopback-d0-out"
else
	not_ok "the bridge makes udk:loopback-d0-out"
	dump
fi
check "and udk:loopback-d1-in" until_ok 60 "'$B/tools/udkctl' --runtime-dir $T/run families audio | grep -q udk:loopback-d1-in"
$A aplay -L >"$T/list" 2>&1
check "aplay -L lists the bridged device" contains "$T/list" "udk:loopback-d0-out"

# a known signal: 3 s of pseudo-random mono frames at 8 kHz (light enough
# for a guest under TCG; the format is the stream's, checked exactly)
fmt="-t raw -f S16_LE -r 8000 -c 1"
python3 -c "
import random, struct
random.seed(16)
open('$T/in.raw', 'wb').write(b''.join(struct.pack('<h', random.randint(1, 32767)) for _ in range(24000)))
"
same() {
	python3 -c "
import sys
a = open('$1', 'rb').read(); b = open('$2', 'rb').read(); i = b.find(a[:256])
print('# signal at byte', i, 'of', len(b))
if i >= 0 and b[i:i + len(a)] != a:
    c = b[i:i + len(a)]
    bad = [k for k in range(min(len(a), len(c))) if a[k] != c[k]]
    print('# %d of %d bytes differ, first at %d (captured %d bytes from there)' % (len(bad) + len(a) - len(c), len(a), bad[0] if bad else len(c), len(c)))
    if bad:
        j = c.find(a[bad[0]:bad[0] + 64])
        print('# the signal from there is at', j, 'in the rest (a gap of', j - bad[0], 'bytes)' if j >= 0 else '(not found)')
sys.exit(0 if i >= 0 and b[i:i + len(a)] == a else 1)"
}
# record until the player is done (and 2 s more), whatever the guest's speed
record_while() {
	rec=$1
	shift
	"$@"
	st=$?
	sleep 2
	kill -INT "$rec" 2>/dev/null
	wait "$rec"
	return $st
}

# udk -> kernel
arecord -D hw:Loopback,1,0 $fmt --buffer-size=16000 -d 120 "$T/k.raw" 2>"$T/krec.log" &
rec=$!
sleep 1
record_while $rec timeout 120 $A aplay -D udk:loopback-d0-out $fmt --period-size=1024 --buffer-size=8192 "$T/in.raw" \
	>"$T/uplay.log" 2>&1
check "aplay plays through the bridge" test $? = 0
sed 's/^/# /' "$T/uplay.log" "$T/krec.log"
check "the kernel's end of the loop has the signal, sample for sample" same "$T/in.raw" "$T/k.raw"

# kernel -> udk
$A arecord -D udk:loopback-d1-in $fmt --period-size=1024 --buffer-size=8192 -d 120 "$T/u.raw" 2>"$T/urec.log" &
rec=$!
sleep 2
record_while $rec timeout 120 aplay -D hw:Loopback,0,0 $fmt --buffer-size=16000 "$T/in.raw" >"$T/kplay.log" 2>&1
check "arecord records through the bridge" test -s "$T/u.raw"
sed 's/^/# /' "$T/kplay.log" "$T/urec.log"
check "it has what the kernel played, sample for sample" same "$T/in.raw" "$T/u.raw"
"$B/tools/udkctl" --runtime-dir "$T/run" families audio >"$T/fam" 2>&1
sed 's/^/# /' "$T/fam"
check "udkctl families audio shows the bridged devices and the kernel's PCMs" sh -c \
	"grep -qF udk:loopback-d0-out $T/fam && grep -qF '\"kernel_pcms\" = 4' $T/fam"
