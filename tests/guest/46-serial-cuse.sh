#!/bin/sh
# The serial family's CUSE backend on the guest's kernel: udkd (root, with
# /dev/cuse) makes the simulated UART's port as two character devices,
# /dev/tty.udkuart-0 and /dev/cu.udkuart-0, that the UART driver serves.
# stty sets a baud the driver hears and a baud it refuses fails; modem
# lines round trip through the UART's loopback plug (TIOCMSET/TIOCMGET);
# break reaches the UART; TIOCEXCL makes a second open fail with EBUSY;
# opening tty. waits for DCD while cu. does not; 256 KiB goes out and back
# through pyserial with RTS/CTS, checksum equal; a waiting read ends on a
# signal; an unplug gives a blocked reader EIO, the devices go, and return
# with the UART.
# modules: cuse
# timeout: 300
. "$UDK_SOURCE_ROOT/tests/guest/lib/common.sh"

tty=/dev/tty.udkuart-0
cu=/dev/cu.udkuart-0
py() { timeout 120 python3 "$S/families/serial/tests/serial-cuse.py" "$@"; }
props() { udkctl tree --properties 2>/dev/null; }

plan 22
check "the kernel has /dev/cuse" test -c /dev/cuse
cat >"$T/machine.plist" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>Services</key><array/><key>Devices</key><array>
<dict><key>Name</key><string>uart0</string><key>Model</key><string>uart16550</string></dict>
</array></dict></plist>
XML
check "udkd starts with a simulated UART" udkd_start --machine "$T/machine.plist"
check "udkd chooses the CUSE backend by itself" wait_for 30 grep -q "serial: ports are CUSE character devices" "$T/udkd.log"
check "tty.udkuart-0 and cu.udkuart-0 are character devices" wait_for 30 sh -c "test -c $tty && test -c $cu"
check "registry: UDKSerialBackend cuse" wait_for 10 sh -c "'$B/tools/udkctl' --runtime-dir $T/run families serial | grep -q '\"backend\":\"cuse\"'"
ls -l "$tty" "$cu" | sed 's/^/# /'

# line settings: stty through TCGETS/TCSETS, answered by the driver
check "stty sets 57600 baud" stty -F "$cu" 57600 raw -echo
check "stty reads 57600 back" sh -c "stty -F $cu speed | grep -qx 57600"
check "the driver has 57600 (UDKSerialLine)" wait_for 10 sh -c "'$B/tools/udkctl' --runtime-dir $T/run tree --properties | grep -q '\"UDKSerialLine\" = {\"baud\":57600'"
if stty -F "$cu" 50 >"$T/stty.err" 2>&1; then
	not_ok "a baud the UART cannot make fails tcsetattr"
else
	ok "a baud the UART cannot make fails tcsetattr"
fi
sed 's/^/# /' "$T/stty.err"
check "the port keeps 57600" sh -c "stty -F $cu speed | grep -qx 57600"
check "the driver's reason is in udkctl" wait_for 10 sh -c "'$B/tools/udkctl' --runtime-dir $T/run families serial | grep -q 'the driver refused 50 baud'"

# modem lines, break, exclusive open, call-in vs call-out
py modem "$cu" >"$T/modem" 2>&1
sed 's/^/# /' "$T/modem"
check "TIOCMSET/TIOCMBIS/TIOCMBIC reach the UART, TIOCMGET reads the loopback plug" contains "$T/modem" "modem lines round trip"
py break "$cu" >"$T/break" 2>&1
sed 's/^/# /' "$T/break"
check "break ioctls return" contains "$T/break" "TIOCSBRK, TIOCCBRK and tcsendbreak returned"
check "the break reached the UART (its loopback counts it)" wait_for 10 sh -c \
	"'$B/tools/udkctl' --runtime-dir $T/run tree --properties | grep -q '\"breaks\":[1-9]'"
py excl "$cu" "$tty" >"$T/excl" 2>&1
sed 's/^/# /' "$T/excl"
check "TIOCEXCL: a second open gets EBUSY; TIOCNXCL and the last close end it" contains "$T/excl" "the last close ends TIOCEXCL"
py dcd "$cu" "$tty" >"$T/dcd" 2>&1
sed 's/^/# /' "$T/dcd"
check "cu. opens without DCD" contains "$T/dcd" "a blocking open of cu. returns while DCD is down"
check "tty. waits for DCD unless O_NONBLOCK" contains "$T/dcd" "open of tty. returns when DCD comes up (after DTR was raised)"

# data
py loop "$cu" 262144 >"$T/loop" 2>&1
sed 's/^/# /' "$T/loop"
check "256 KiB out and back with RTS/CTS, checksum equal" contains "$T/loop" "looped 262144 bytes: 262144 came back, sha256"

# a read waiting for bytes ends on a signal: the kernel's FUSE interrupt
# reaches the family, which answers EINTR (else the reader hangs)
timeout -s INT 3 python3 -c "import os; os.read(os.open('$cu', os.O_RDWR | os.O_NOCTTY), 1)" >/dev/null 2>&1 &
sigpid=$!
(sleep 30; kill -9 "$sigpid" 2>/dev/null) &
dog=$!
wait "$sigpid"
rc=$?
kill "$dog" 2>/dev/null
if [ "$rc" = 124 ]; then ok "a read waiting for bytes ends on SIGINT"; else not_ok "a read waiting for bytes ends on SIGINT (exit $rc)"; fi

# hot unplug: a blocked reader gets EIO, the devices go, and come back
rm -f "$T/ready"
py reader "$cu" "$T/ready" >"$T/reader" 2>&1 &
reader=$!
wait_for 20 test -e "$T/ready"
sleep 0.5
udkctl sim unplug uart0 >/dev/null 2>&1
wait "$reader"
sed 's/^/# /' "$T/reader"
check "unplug: the blocked read gets EIO" contains "$T/reader" "read: EIO"
check "unplug: the devices disappear" wait_for 20 sh -c "! test -e $tty && ! test -e $cu"
udkctl sim plug uart0 >/dev/null 2>&1
check "plugged again, the devices return" wait_for 30 sh -c "test -c $tty && test -c $cu"
