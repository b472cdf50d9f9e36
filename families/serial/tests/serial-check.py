#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""serial-check.py - what an app does with a udk serial port, through
pyserial and termios (python3-serial).  Called by test-serial.c; prints
what it saw and exits 0 when the check holds, 1 (with the reason) when
not.  Every blocking call has a timeout, so a hang is a failure, not a
stuck test.

  serial-check.py loopback PORT            bytes written come back
  serial-check.py baud PORT RATE           open at 115200, then set RATE with pyserial
  serial-check.py speed PORT               print the port's current output speed
  serial-check.py integrity PORT BYTES     BYTES random both ways, RTS/CTS, checksum
  serial-check.py flood PORT BYTES         write BYTES without reading, no flow control
  serial-check.py excl PORT                TIOCEXCL: a second open gets EBUSY
  serial-check.py hangup PORT READY        block in read until the port goes; touch READY first
"""
import errno
import fcntl
import hashlib
import os
import select
import sys
import termios
import threading
import time

import serial

TIOCEXCL = getattr(termios, "TIOCEXCL", 0x540C)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def loopback(port):
    p = serial.Serial(port, 115200, timeout=10)
    msg = b"udk serial loopback \x00\xff\x7f 0123456789\n"
    p.write(msg)
    got = p.read(len(msg))
    if got != msg:
        fail("wrote %r, read back %r" % (msg, got))
    print("loopback ok: %d bytes" % len(got))


def baud(port, rate):
    p = serial.Serial(port, 115200, timeout=5)
    p.baudrate = rate
    attrs = termios.tcgetattr(p.fd)
    print("set %d baud with pyserial; termios speed code %d" % (rate, attrs[5]))


def speed(port):
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    # TCGETS2 gives the exact rate; the B-codes map back through termios
    codes = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n.startswith("B") and n[1:].isdigit()}
    print("speed %d" % codes.get(termios.tcgetattr(fd)[5], -1))


def integrity(port, n):
    p = serial.Serial(port, 4000000, rtscts=True, timeout=30)
    data = os.urandom(n)
    got = bytearray()
    err = []

    def reader():
        while len(got) < n:
            b = p.read(min(1 << 16, n - len(got)))
            if not b:
                err.append("read timed out after %d of %d bytes" % (len(got), n))
                return
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    t0 = time.monotonic()
    p.write(data)
    p.flush()
    t.join(120)
    dt = time.monotonic() - t0
    if err:
        fail(err[0])
    a, b = hashlib.sha256(data).hexdigest(), hashlib.sha256(bytes(got)).hexdigest()
    if len(got) != n or a != b:
        fail("sent %d bytes (sha256 %s), received %d (sha256 %s)" % (n, a, len(got), b))
    print("integrity ok: %d bytes each way, sha256 %s, %.1f MB/s" % (n, a[:16], n / dt / 1e6))


def flood(port, n):
    p = serial.Serial(port, 4000000, rtscts=False, timeout=1, write_timeout=30)
    p.write(os.urandom(n))
    p.flush()
    time.sleep(0.5)
    got = 0
    while True:
        b = p.read(1 << 16)
        if not b:
            break
        got += len(b)
    print("flood: wrote %d, read back %d" % (n, got))


def excl(port):
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    fcntl.ioctl(fd, TIOCEXCL)
    try:
        fd2 = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno != errno.EBUSY:
            fail("second open failed with %s, not EBUSY" % errno.errorcode.get(e.errno, e.errno))
        print("second open under TIOCEXCL: EBUSY")
    else:
        os.close(fd2)
        fail("a second open succeeded under TIOCEXCL (uid %d)" % os.getuid())
    os.close(fd)
    # TIOCEXCL ends with the app that set it (udkd hears the close)
    for _ in range(200):
        try:
            fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.05)
    else:
        fail("the port stayed exclusive after the app that set TIOCEXCL closed it")
    os.close(fd)
    print("after the first closed, the port opens again")


def hangup(port, ready):
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    open(ready, "w").close()
    r, _, _ = select.select([fd], [], [], 30)
    if not r:
        fail("no hang-up within 30 s of waiting")
    try:
        d = os.read(fd, 100)
        if d:
            fail("read data %r instead of a hang-up" % d)
        print("read: end of file (hang-up)")
    except OSError as e:
        if e.errno != errno.EIO:
            fail("read failed with %s" % errno.errorcode.get(e.errno, e.errno))
        print("read: EIO")
    try:
        os.write(fd, b"x")
        fail("write after the unplug succeeded")
    except OSError as e:
        print("write: %s" % errno.errorcode.get(e.errno, e.errno))


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    cmd, port = sys.argv[1], sys.argv[2]
    if cmd == "loopback":
        loopback(port)
    elif cmd == "baud":
        baud(port, int(sys.argv[3]))
    elif cmd == "speed":
        speed(port)
    elif cmd == "integrity":
        integrity(port, int(sys.argv[3]))
    elif cmd == "flood":
        flood(port, int(sys.argv[3]))
    elif cmd == "excl":
        excl(port)
    elif cmd == "hangup":
        hangup(port, sys.argv[3])
    else:
        fail("unknown check " + cmd)


if __name__ == "__main__":
    main()
