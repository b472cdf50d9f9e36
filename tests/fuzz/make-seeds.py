#!/usr/bin/env python3
"""Write the seed corpora for the fuzz targets (run once; the seeds are
committed).  Every seed is a valid input, so the fuzzers start from the
real formats."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def enc(v):
    if v is True:
        return b"\x02"
    if v is False:
        return b"\x01"
    if isinstance(v, int):
        return b"\x03" + struct.pack("<q", v)
    if isinstance(v, float):
        return b"\x05" + struct.pack("<d", v)
    if isinstance(v, str):
        b = v.encode()
        return b"\x06" + struct.pack("<I", len(b)) + b
    if isinstance(v, bytes):
        return b"\x07" + struct.pack("<I", len(v)) + v
    if isinstance(v, list):
        return b"\x08" + struct.pack("<I", len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        out = b"\x09" + struct.pack("<I", len(v))
        for k, x in v.items():
            kb = k.encode()
            out += struct.pack("<I", len(kb)) + kb + enc(x)
        return out
    raise TypeError(v)


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


values = {
    "hello": {"version": 1, "name": "udkctl"},
    "start": {"object": 4294967298, "class": "TestDriver",
              "provider": {"id": 4294967297, "name": "IOUserResources",
                           "classes": ["IOUserResources", "IOService"],
                           "properties": {"IOResources": []}},
              "properties": {"IOProbeScore": 0, "blob": b"\x00\x01", "r": 1.5,
                             "ok": True}},
    "scalars": [1, -1, 0, True, False, "", b""],
}
for name, v in values.items():
    write("value", name, enc(v))

# wire: first byte = number of fds, then header + payload
def frame(op, flags, serial, status, payload):
    return struct.pack("<IHHIi", 16 + len(payload), op, flags, serial, status) + payload

write("wire", "hello", b"\x00" + frame(100, 8, 1, 0, enc(values["hello"])))
write("wire", "reply", b"\x00" + frame(101, 9, 2, -4097, enc({"reason": "x"})))
call = struct.pack("<QQIIIIII", 1, 0, 0, 2, 1, 0, 0, 0) + struct.pack("<QQ", 40, 2)
write("wire", "call", b"\x00" + frame(300, 0, 3, 0, call))
write("wire", "call-fd", b"\x01" + frame(300, 0, 4, 0,
                                        struct.pack("<QQIIIIII", 0, 0, 1, 0, 0, 8192, 0, 0)))

# call: first byte = fd count (low 2 bits)
write("call", "add", b"\x00" + call)
write("call", "echo", b"\x00" + struct.pack("<QQIIIIII", 0, 0, 0, 0, 0, 5, 5, 0) + b"hello")
write("call", "async", b"\x00" + struct.pack("<QQIIIIII", 6, 7, 4, 2, 0, 0, 0, 0) + struct.pack("<QQ", 1, 2))
write("call", "reply", b"\x02" + struct.pack("<II", 1, 3) + struct.pack("<Q", 42) + b"abc")

for src in ("drivers/hello/Info.plist", "machines/demo.plist", "drivers/hello/Entitlements.plist"):
    with open(os.path.join(here, "..", "..", src), "rb") as f:
        data = f.read()
    base = os.path.basename(src)
    write("plist", base, data)
    if base == "Info.plist":
        write("manifest", "hello-Info.plist", data)
write("manifest", "pci.plist", b"""<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.x.pci</string>
<key>CFBundleExecutable</key><string>exe</string>
<key>IOKitPersonalities</key><dict><key>P</key><dict>
<key>IOProviderClass</key><string>IOPCIDevice</string>
<key>IOUserClass</key><string>D</string>
<key>IOUserServerName</key><string>org.x.pci</string>
<key>IOPCIPrimaryMatch</key><string>0x10018086&amp;0xffffffff 0x1234abcd</string>
<key>IOPropertyMatch</key><array><dict><key>a</key><integer>1</integer></dict></array>
<key>idVendor</key><integer>1452</integer>
<key>UDKDeadlines</key><dict><key>Start</key><integer>100</integer></dict>
</dict></dict></dict></plist>""")

# the serial family's port messages (families/serial/daemon/msg.c)
write("serial-msg", "create", enc({"object": 4294967298, "base": "mycustombasename", "suffix": "123"}))
write("serial-msg", "status", enc({"port": 1, "status": {
    "UDKSerialLine": {"baud": 115200, "data_bits": 8, "parity": "none", "stop_bits": 1,
                      "rts_cts": True, "xon_xoff": False},
    "UDKSerialErrors": {"framing": 0, "parity": 0, "overrun": 3, "breaks": 0},
    "UDKSerialRefusal": "the driver refused 5000000 baud"}}))
write("serial-msg", "bad", enc({"port": 1, "base": "../x", "status": {"IOTTYDevice": "x"}}))
