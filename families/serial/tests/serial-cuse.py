#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What tests/guest/46-serial-cuse.sh asks of a port of the CUSE backend,
through the calls an app makes (os, fcntl.ioctl, termios, pyserial).

  serial-cuse.py modem CU           TIOCMSET/BIS/BIC/GET round trips (loopback plug)
  serial-cuse.py break CU           TIOCSBRK/TIOCCBRK, then tcsendbreak
  serial-cuse.py excl CU TTY        TIOCEXCL: a second open gets EBUSY
  serial-cuse.py dcd CU TTY         tty. waits for DCD, cu. does not
  serial-cuse.py loop CU BYTES      random bytes out and back (RTS/CTS), sha256
  serial-cuse.py reader DEV READY   blocks in read; prints what read and write got

Each prints what it saw and exits 0 when the port behaved, 1 otherwise.
The UART model's loopback plug wires RTS to CTS and DTR to DSR and DCD.
"""
import errno
import fcntl
import hashlib
import os
import struct
import sys
import termios
import threading
import time


# <asm-generic/ioctls.h>; Python's termios module lacks them
TIOCSBRK = getattr(termios, "TIOCSBRK", 0x5427)
TIOCCBRK = getattr(termios, "TIOCCBRK", 0x5428)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def mget(fd):
    return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCMGET, struct.pack("i", 0)))[0]


def mset(fd, req, bits):
    fcntl.ioctl(fd, req, struct.pack("i", bits))


def names(bits):
    out = []
    for n in ("DTR", "RTS", "CTS", "CAR", "DSR", "RNG"):
        if bits & getattr(termios, "TIOCM_" + n):
            out.append(n)
    return " ".join(out) or "-"


def wait_lines(fd, want_set, want_clear, what):
    """Until the lines in want_set are up and want_clear down (the driver
    reads the UART's MSR on its interrupt), at most 10 s."""
    for _ in range(200):
        b = mget(fd)
        if (b & want_set) == want_set and not (b & want_clear):
            print("%s: %s" % (what, names(b)))
            return b
        time.sleep(0.05)
    fail("%s: the lines are %s" % (what, names(mget(fd))))


def modem(cu):
    T = termios
    fd = os.open(cu, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    mset(fd, T.TIOCMBIC, T.TIOCM_DTR | T.TIOCM_RTS)
    wait_lines(fd, 0, T.TIOCM_DTR | T.TIOCM_RTS | T.TIOCM_CTS | T.TIOCM_DSR | T.TIOCM_CAR,
               "TIOCMBIC DTR RTS")
    mset(fd, T.TIOCMBIS, T.TIOCM_DTR)
    wait_lines(fd, T.TIOCM_DTR | T.TIOCM_DSR | T.TIOCM_CAR, T.TIOCM_RTS | T.TIOCM_CTS, "TIOCMBIS DTR")
    mset(fd, T.TIOCMSET, T.TIOCM_RTS)
    wait_lines(fd, T.TIOCM_RTS | T.TIOCM_CTS, T.TIOCM_DTR | T.TIOCM_DSR | T.TIOCM_CAR, "TIOCMSET RTS")
    mset(fd, T.TIOCMSET, T.TIOCM_DTR | T.TIOCM_RTS)
    wait_lines(fd, T.TIOCM_DTR | T.TIOCM_RTS | T.TIOCM_CTS | T.TIOCM_DSR | T.TIOCM_CAR, 0,
               "TIOCMSET DTR RTS")
    os.close(fd)
    print("modem lines round trip")


def brk(cu):
    fd = os.open(cu, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    fcntl.ioctl(fd, TIOCSBRK)
    time.sleep(0.2)
    fcntl.ioctl(fd, TIOCCBRK)
    termios.tcsendbreak(fd, 0)
    os.close(fd)
    print("TIOCSBRK, TIOCCBRK and tcsendbreak returned")


def expect_errno(path, flags, code, what):
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == code:
            print("%s: %s" % (what, errno.errorcode[e.errno]))
            return
        fail("%s: %s, not %s" % (what, errno.errorcode.get(e.errno, e.errno), errno.errorcode[code]))
    os.close(fd)
    fail("%s: the open worked" % what)


def excl(cu, tty):
    flags = os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK
    fd = os.open(cu, flags)
    fcntl.ioctl(fd, termios.TIOCEXCL)
    expect_errno(cu, flags, errno.EBUSY, "second open of cu. under TIOCEXCL")
    expect_errno(tty, flags, errno.EBUSY, "open of tty. under TIOCEXCL")
    fcntl.ioctl(fd, termios.TIOCNXCL)
    os.close(os.open(cu, flags))
    print("after TIOCNXCL a second open works")
    fcntl.ioctl(fd, termios.TIOCEXCL)
    os.close(fd)
    os.close(os.open(cu, flags))
    print("the last close ends TIOCEXCL")


def dcd(cu, tty):
    T = termios
    ctl = os.open(cu, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    mset(ctl, T.TIOCMBIC, T.TIOCM_DTR)
    wait_lines(ctl, 0, T.TIOCM_CAR, "DTR dropped, so DCD is down")
    got = {}

    def opener():
        got["fd"] = os.open(tty, os.O_RDWR | os.O_NOCTTY)
        got["when"] = time.monotonic()

    th = threading.Thread(target=opener, daemon=True)
    th.start()
    th.join(1.0)
    if "fd" in got:
        fail("open of tty. returned without DCD")
    print("open of tty. waits while DCD is down")
    fd = os.open(tty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    os.close(fd)
    print("open of tty. with O_NONBLOCK returns at once")
    done = {}

    def cu_opener():
        done["fd"] = os.open(cu, os.O_RDWR | os.O_NOCTTY)

    th2 = threading.Thread(target=cu_opener, daemon=True)
    th2.start()
    th2.join(10)
    if "fd" not in done:
        fail("a blocking open of cu. waited for DCD")
    os.close(done["fd"])
    print("a blocking open of cu. returns while DCD is down")
    if "fd" in got:
        fail("open of tty. returned without DCD")
    raised = time.monotonic()
    mset(ctl, T.TIOCMBIS, T.TIOCM_DTR)
    th.join(10)
    if "fd" not in got:
        fail("open of tty. still waits after DCD came up")
    os.close(got["fd"])
    os.close(ctl)
    print("open of tty. returns when DCD comes up (%s DTR was raised)"
          % ("after" if got["when"] >= raised else "BEFORE"))
    if got["when"] < raised:
        fail("tty. opened before DCD came up")


def loop(cu, total):
    import serial

    data = os.urandom(total)
    want = hashlib.sha256(data).hexdigest()
    s = serial.Serial(cu, 4000000, rtscts=True, timeout=0.5)
    got = bytearray()
    err = []

    def writer():
        try:
            for i in range(0, total, 4096):
                s.write(data[i:i + 4096])
            s.flush()
        except Exception as e:  # noqa: BLE001 - reported below
            err.append(repr(e))

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    idle = 0
    while len(got) < total and idle < 60:
        chunk = s.read(min(65536, total - len(got)))
        if chunk:
            got += chunk
            idle = 0
        else:
            idle += 1
    th.join(10)
    s.close()
    have = hashlib.sha256(bytes(got)).hexdigest()
    print("looped %d bytes: %d came back, sha256 %s %s" % (total, len(got), have[:16],
                                                           "equal" if have == want else "DIFFERS"))
    if err:
        fail("the writer: " + err[0])
    if have != want:
        fail("the bytes differ")


def reader(dev, ready):
    fd = os.open(dev, os.O_RDWR | os.O_NOCTTY)
    open(ready, "w").close()
    try:
        b = os.read(fd, 100)
        print("read: %d bytes" % len(b) if b else "read: end of file")
    except OSError as e:
        print("read: " + errno.errorcode.get(e.errno, str(e.errno)))
    try:
        os.write(fd, b"x")
        print("write: worked")
    except OSError as e:
        print("write: " + errno.errorcode.get(e.errno, str(e.errno)))


def main():
    cmd = sys.argv[1]
    if cmd == "modem":
        modem(sys.argv[2])
    elif cmd == "break":
        brk(sys.argv[2])
    elif cmd == "excl":
        excl(sys.argv[2], sys.argv[3])
    elif cmd == "dcd":
        dcd(sys.argv[2], sys.argv[3])
    elif cmd == "loop":
        loop(sys.argv[2], int(sys.argv[3]))
    elif cmd == "reader":
        reader(sys.argv[2], sys.argv[3])
    else:
        fail("no command " + cmd)


if __name__ == "__main__":
    main()
