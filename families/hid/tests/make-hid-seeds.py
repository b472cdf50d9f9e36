#!/usr/bin/env python3
"""Write the HID family's fuzz seeds into tests/fuzz/corpus/hid-*/ (run once;
the seeds are committed).  Real descriptor shapes, so the fuzzer starts from
what devices send, and a few refused ones."""
import hashlib
import os

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "..", "..", "..", "tests", "fuzz", "corpus")


def write(target, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


BOOT_KEYBOARD = bytes.fromhex(
    "05010906a101050719e029e71500250175019508810295017508810195057501"
    "05081901290591029501750391019506750815002565050719002965810" "0c0")
MOUSE_CONSUMER = bytes.fromhex(
    "05010902a1018501090 1a1000509190129031500250195037501810295017505"
    "810105010930093109381581257f750895038106c0c0050c0901a10185021900"
    "2a3c021500263c02950175108100c0".replace(" ", ""))
GAMEPAD = bytes.fromhex(
    "05010905a101a10285011500250135014508750195100509190129108102"
    "0501093009310932093515812 57f750895048102c0c0".replace(" ", ""))
# a digitizer-like report with Push/Pop, units and physical ranges
TOUCH = bytes.fromhex(
    "050d0905a10185030922a1020942150025017501950181020501a4"
    "26ff0f7510550e65113500463a0109308102463a01093181 02b4c0c0".replace(" ", ""))
# a vendor feature report and an output report
VENDOR = bytes.fromhex(
    "0600ff0901a10185100901150026ff0075089520b1020902953f9102c0")
for d in (BOOT_KEYBOARD, MOUSE_CONSUMER, GAMEPAD, TOUCH, VENDOR, MOUSE_CONSUMER + VENDOR[:-1]):
    write("hid-descriptor", d)
# refused: unbalanced, too deep, mixed report IDs, report size 0
write("hid-descriptor", BOOT_KEYBOARD[:-1])
write("hid-descriptor", bytes.fromhex("a100") * 17)
write("hid-descriptor", bytes.fromhex("750895018102850281 02".replace(" ", "")))
write("hid-descriptor", bytes.fromhex("750095018102"))


# the HID channel: one byte for the direction (0: from a driver, 1: from
# udkd), then records (proto-hid.h: u32 handle, u16 type, u16 len, u64 seq,
# u64 time, i32 status, u8 report type, u8 report id, u16 0), payloads
# padded to 8
import struct


def rec(handle, type_, payload=b"", seq=0, t=0, status=0, rtype=0, rid=0):
    head = struct.pack("<IHHQQiBBH", handle, type_, len(payload), seq, t, status, rtype, rid, 0)
    pad = (8 - len(payload) % 8) % 8
    return head + payload + b"\0" * pad


key_a = bytes([0, 0, 4, 0, 0, 0, 0, 0])
write("hid-channel", b"\0" + rec(1, 19) + rec(2, 17, key_a, t=5) + rec(1, 16, seq=3))
write("hid-channel", b"\0" + rec(2, 18, b"\x42\x01", seq=9, status=0))
write("hid-channel", b"\1" + rec(1, 1, key_a, seq=1, t=7) + rec(1, 1, bytes(8), seq=2))
ev = struct.pack("<HHi", 1, 30, 1) + struct.pack("<HHi", 0, 0, 0)
write("hid-channel", b"\1" + rec(3, 2, ev, seq=4) + rec(3, 5, b"revoked", status=-4113))
write("hid-channel", b"\1" + rec(4, 3, b"\x02", seq=7, rtype=1) + rec(4, 4, seq=8, rtype=2, rid=3))

# reports: a descriptor selector, then length-prefixed reports
write("hid-report", b"\0" + b"\x08" + key_a + b"\x08" + bytes(8) + b"\x07" + key_a[:7])
write("hid-report", b"\1" + b"\x05\x01\x05\xfe\x03\xff" + b"\x03\x02\xe9\x00" + b"\x03\x02\x00\x00")
write("hid-report", b"\2" + b"\x06\x01\x00\x10\x20\x30\x40" + b"\x06\x00\x00\x00\x00\x00\x00")
