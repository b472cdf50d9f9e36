#!/usr/bin/env python3
"""Write the seed corpora for the fuzz targets (the seeds are committed).
Every seed is a valid input, so the fuzzers start from the real formats.

Usage:
  make-seeds.py                 write every seed
  make-seeds.py PATTERN...      write only the seeds whose TARGET/NAME
                                matches a pattern, e.g. 'proto/install*'

Run it with patterns for what you added (a new op: 'proto/OPNAME*'), so
the other committed seeds stay as they are.  Seeds copied from files of the
tree (plist, manifest) are snapshots: the script writes a missing one and
never rewrites one, so running it reproduces the committed corpus even after
the file it was copied from changed (machines/demo.plist has)."""
import fnmatch
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
patterns = sys.argv[1:]


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


def write(target, name, data, snapshot=False):
    if patterns and not any(fnmatch.fnmatchcase(target + "/" + name, p) for p in patterns):
        return
    d = os.path.join(here, "corpus", target)
    path = os.path.join(d, name)
    if snapshot and os.path.exists(path):
        return
    os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
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
    write("plist", base, data, snapshot=True)
    if base == "Info.plist":
        write("manifest", "hello-Info.plist", data, snapshot=True)
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

# The USB family's decoders (fuzz-usb.c): the first byte picks one.
usb_dev = bytes([18, 1, 0x10, 2, 0, 0, 0, 64, 0x09, 0x12, 0x02, 0, 0, 1, 1, 2, 3, 1])
usb_cfg = bytes([9, 2, 48, 0, 2, 1, 0, 0x80, 50,
                 9, 4, 0, 0, 2, 0xff, 0, 0, 0,
                 7, 5, 0x01, 2, 0, 2, 0, 7, 5, 0x81, 2, 0, 2, 0,
                 9, 4, 1, 0, 0, 0xff, 0, 0, 0, 9, 4, 1, 1, 1, 0xff, 0, 0, 0,
                 7, 5, 0x83, 1, 192, 0, 1])
usb_cfg = usb_cfg[:2] + struct.pack("<H", len(usb_cfg)) + usb_cfg[4:]
write("usb", "descriptors", b"\x00" + usb_dev + usb_cfg)
write("usb", "string", b"\x00" + bytes([8, 3]) + "udk".encode("utf-16-le"))
def usbip_submit(seq, direction, ep, length, np, setup=b"\0" * 8, data=b"", iso=b""):
    return struct.pack(">IIIIIIiiii", 1, seq, 0x10001, direction, ep, 0, length, 0, np, 0) + setup + data + iso
ctrl = usbip_submit(1, 1, 0, 18, 0, bytes([0x80, 6, 0, 1, 0, 0, 18, 0]))
bulk_out = usbip_submit(2, 0, 1, 4, 0, data=b"abcd")
iso = usbip_submit(3, 1, 3, 384, 2, iso=struct.pack(">IIII", 0, 192, 0, 0) + struct.pack(">IIII", 192, 192, 0, 0))
unlink = struct.pack(">IIIIII", 2, 4, 0x10001, 0, 0, 3) + b"\0" * 24
write("usb", "usbip", b"\x01" + ctrl + bulk_out + iso + unlink)
submit = struct.pack("<QQIIBBHI", 7, 0, 0, 4, 0x01, 2, 0, 0) + b"\0" * 8 + b"data"
write("usb", "submit", b"\x02" + submit)
submit_iso = struct.pack("<QQIIBBHI", 8, 0, 3, 384, 0x83, 1, 2, 0) + b"\0" * 8 + struct.pack("<II", 192, 192)
write("usb", "submit-iso", b"\x02" + submit_iso)
complete = struct.pack("<QiIII", 7, 0, 4, 0, 4) + b"data"
write("usb", "complete", b"\x03" + complete)
write("usb", "complete-iso", b"\x03" + struct.pack("<QiIII", 8, 0, 200, 2, 0) + struct.pack("<IIiIIi", 192, 100, 0, 192, 100, 0))
write("usb", "uevent", b"\x04" + b"add@/devices/pci0000:00/0000:00:06.0/usb1/1-1\0ACTION=add\0"
      b"DEVPATH=/devices/pci0000:00/0000:00:06.0/usb1/1-1\0SUBSYSTEM=usb\0DEVTYPE=usb_device\0BUSNUM=001\0")
# the serial family's port messages (families/serial/daemon/msg.c)
write("serial-msg", "create", enc({"object": 4294967298, "base": "mycustombasename", "suffix": "123"}))
write("serial-msg", "status", enc({"port": 1, "status": {
    "UDKSerialLine": {"baud": 115200, "data_bits": 8, "parity": "none", "stop_bits": 1,
                      "rts_cts": True, "xon_xoff": False},
    "UDKSerialErrors": {"framing": 0, "parity": 0, "overrun": 3, "breaks": 0},
    "UDKSerialRefusal": "the driver refused 5000000 baud"}}))
write("serial-msg", "bad", enc({"port": 1, "base": "../x", "status": {"IOTTYDevice": "x"}}))
# control: frames for daemon/control.c from an unprivileged peer
# (tests/fuzz/fuzz-control.c: u8 kind, u16 length, bytes; kind 1 = u16 op,
# u16 flags, u32 serial, then the payload; kind 2 = payload in a memfd;
# kind 3 = as 1, replies not read; kind 0 = a raw datagram)
def cframe(kind, op, serial, body=None, flags=None):
    payload = enc(body) if body is not None else b""
    if flags is None:
        flags = 8 if body is not None else 0
    data = struct.pack("<HHI", op, flags, serial) + payload
    return bytes([kind]) + struct.pack("<H", len(data)) + data


def raw(data):
    return b"\x00" + struct.pack("<H", len(data)) + data


def nest_dict(n):
    return "leaf" if n == 0 else {"k%d" % n: nest_dict(n - 1)}


def nest_list(n):
    return 1 if n == 0 else [nest_list(n - 1)]


hello = cframe(1, 100, 1, {"version": 1, "name": "fuzz"})
widget = 0x100000002
control = {
    "registry": [hello, cframe(1, 101, 2, {"properties": True}),
                 cframe(1, 102, 3, {"match": {"IOProviderClass": "UDKTestDevice",
                                              "IOPropertyMatch": {"Color": "blue"}}}),
                 cframe(1, 103, 4, {"id": widget}), cframe(1, 104, 5, {"path": "/widget0/part"}),
                 cframe(1, 103, 6, {"path": "/widget1"}), cframe(1, 1, 7)],
    "subscribe": [hello, cframe(1, 105, 2, {"cookie": 1, "type": "arrival",
                                            "match": {"IOProviderClass": "IOService"}}),
                  cframe(1, 105, 3, {"cookie": 2, "type": "property",
                                     "match": {"IONameMatch": ["widget0", "widget1"]}}),
                  cframe(1, 106, 4, {"cookie": 1}), cframe(1, 106, 5, {"cookie": 2})],
    "manage": [hello, cframe(1, 108, 2, {}), cframe(1, 109, 3, {"driver": "x", "service": "/widget0"}),
               cframe(1, 114, 4, {}), cframe(1, 117, 5, {"action": "list"}),
               cframe(1, 118, 6, {"action": "list"}), cframe(1, 119, 7, {"action": "status"}),
               cframe(1, 120, 8, {"action": "list"}),
               cframe(1, 120, 9, {"action": "explain", "driver": "x", "app": "/bin/true"}),
               cframe(1, 121, 10, {"action": "list"})],
    "refused": [hello, cframe(1, 110, 2, {"driver": "x"}), cframe(1, 113, 3, {}),
                cframe(1, 111, 4, {"level": "debug"}), cframe(1, 115, 5, {"id": widget, "key": "K", "value": 1}),
                cframe(1, 119, 6, {"action": "on"}), cframe(1, 121, 7, {"action": "sleep"}),
                cframe(1, 107, 8, {"id": widget, "type": 0})],
    "large": [hello, cframe(2, 102, 2, {"match": {"IOProviderClass": "IOService", "Pad": b"\x00" * 62000}}),
              cframe(1, 114, 3, {})],
    "unread": [hello] + [cframe(3, 101, 2 + i, {"properties": True}) for i in range(20)],
    "malformed": [raw(b"\x10\x00\x00\x00\x64\x00\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00"),
                  cframe(1, 101, 2, {"properties": True})],
    "no-hello": [cframe(1, 101, 1, {}), hello],
    "deep": [hello, cframe(1, 102, 2, {"match": {"IOPropertyMatch": nest_dict(10)}}),
             cframe(1, 105, 3, {"cookie": 1, "type": "arrival", "match": {"X": nest_list(10)}})],
}
for name, frames in control.items():
    write("control", name, b"".join(frames))

# driver: frames for daemon/launcher.c from a driver process
# (tests/fuzz/fuzz-driver.c: u8 kind, u16 length, bytes; kind & 1 = u16 op,
# u16 flags, u32 serial, then the payload; kind & 2 = with a descriptor;
# kind 0 = a raw datagram).  The driver's instance is the service after
# widget0's children: 0x100000005.
instance = 0x100000005
driver = {
    "publish": [cframe(1, 204, 1, {"provider": instance, "name": "child", "classes": ["UDKFuzzChild"],
                                   "properties": {"A": 1}}),
                cframe(1, 205, 2, {"id": instance + 1}),
                cframe(1, 206, 3, {"id": instance + 1, "properties": {"B": "x"}}),
                cframe(1, 207, 4, {"id": instance + 1})],
    "resource": [cframe(1, 211, 1, {"name": "org.udk.fuzz.resource"}), cframe(1, 211, 2, {"name": ""})],
    "log": [cframe(1, 208, 0, {"level": 3, "message": "hello from the driver"}, flags=8 | 4),
            cframe(1, 218, 0, {"object": instance, "code": "UDK_E_UNSUPPORTED", "reason": "wrong role"},
                   flags=8 | 4),
            cframe(1, 214, 0, {"object": 7}, flags=8 | 4)],
    "power": [cframe(1, 216, 1, {"object": instance, "state": 0}),
              cframe(1, 217, 0, {"object": instance, "busy": True}, flags=8 | 4)],
    "refused": [cframe(1, 200, 1, {"version": 1, "pid": 1, "classes": ["X"]}),
                cframe(1, 212, 2, {"provider": 0x100000002}),
                cframe(1, 204, 3, {"provider": "x", "name": 5}),
                cframe(1, 204, 4, {"provider": instance, "name": "a/b", "classes": []}),
                cframe(3, 205, 5, {"id": instance}),
                cframe(1, 201, 6, {"object": instance}),
                cframe(1, 1000, 7, {}),
                cframe(1, 1, 8)],
    "malformed": [raw(b"\x10\x00\x00\x00\xcc\x00\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00"),
                  cframe(1, 204, 2, None, flags=8), cframe(1, 206, 3, [1, 2])],
}
for name, frames in driver.items():
    write("driver", name, b"".join(frames))


# proto: u16 op, then an encoded body, for every op of lib/common/proto.xml:
# one body with every field of its type, one with a field of the wrong type
def proto_seeds():
    import xml.etree.ElementTree as ET
    samples = {"int": -3, "uint": 7, "bool": True, "string": "list", "data": b"\x01\x02",
               "array": [], "dict": {"k": 1}, "value": "v"}
    items = {"int": 1, "uint": 2, "bool": False, "string": "s", "data": b"d", "array": [], "dict": {},
             "value": 0}
    root = ET.parse(os.path.join(here, "..", "..", "lib", "common", "proto.xml")).getroot()
    for ch in root.findall("channel"):
        number = None
        for op in ch.findall("op"):
            number = int(op.get("value"), 0) if op.get("value") else number + 1
            if op.get("body", "dict").startswith("struct "):
                continue
            body = {}
            fields = op.findall("request/field")
            for f in fields:
                t = f.get("type")
                v = samples[t]
                if f.get("values"):
                    v = f.get("values").split("|")[0]
                if t == "array" and f.get("of"):
                    v = [items[f.get("of")]]
                body[f.get("name")] = v
            write("proto", op.get("name").lower(), struct.pack("<H", number) + enc(body))
            if fields:
                bad = dict(body)
                bad[fields[0].get("name")] = [1] if fields[0].get("type") != "array" else "x"
                write("proto", op.get("name").lower() + "-bad", struct.pack("<H", number) + enc(bad))


proto_seeds()

# the audio family's device descriptions (families/audio/common/formats.c)
_fmt = [{"sample_format": "S16_LE", "channels": 2, "rate_min": 48000, "rate_max": 48000},
        {"sample_format": "S32_LE", "channels": 8, "rate_min": 44100, "rate_max": 96000}]
write("audio-state", "device", enc({"device": 4294967301, "state": {
    "UDKAudioName": "loopback", "UDKAudioDescription": "udk simulated loopback", "UDKAudioUID": "loopback",
    "UDKAudioVisibility": "while-held",
    "UDKAudioStreams": [{"name": "out", "direction": "output", "formats": _fmt, "min_period_frames": 16,
                         "max_buffer_frames": 65536, "current": {"sample_format": "S16_LE", "channels": 2,
                                                                 "rate": 48000}, "in_use_by": 1234},
                        {"name": "in", "direction": "input", "formats": _fmt}],
    "UDKAudioControls": [{"name": "Clock Source", "kind": "selector", "value": 1,
                          "items": ["Internal", "Word Clock"], "clock_source": True},
                         {"name": "Volume", "kind": "volume", "value": -600, "min": -6000, "max": 0},
                         {"name": "Mute", "kind": "mute", "value": 0}]}}))
write("audio-state", "formats", enc({"formats": _fmt}))
write("audio-state", "bad", enc({"state": {"UDKAudioName": "Bad|Name", "UDKAudioStreams": [
    {"name": "x", "direction": "output", "formats": [{"sample_format": "U8", "channels": 0,
                                                       "rate_min": 96000, "rate_max": 8000}]}]}}))


# a bundle's executable (daemon/bundle.c: format, PT_INTERP, DT_NEEDED, DT_RUNPATH)
def elf64(interp, needed, runpath):
    """A minimal x86-64 ELF64 program: PT_LOAD over the whole file, PT_INTERP, PT_DYNAMIC."""
    strtab = b"\0"
    offs = []
    for n in needed:
        offs.append(len(strtab))
        strtab += n.encode() + b"\0"
    rp = len(strtab)
    strtab += runpath.encode() + b"\0"
    ehsize, phsize, nph = 64, 56, 3
    interp_off = ehsize + phsize * nph
    interp_b = interp.encode() + b"\0"
    str_off = interp_off + len(interp_b)
    dyn_off = (str_off + len(strtab) + 7) & ~7
    dyn = b"".join(struct.pack("<qQ", 1, o) for o in offs)
    dyn += struct.pack("<qQ", 5, str_off) + struct.pack("<qQ", 10, len(strtab))
    if runpath:
        dyn += struct.pack("<qQ", 29, rp)
    dyn += struct.pack("<qQ", 0, 0)
    size = dyn_off + len(dyn)
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    eh += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, ehsize, 0, 0, ehsize, phsize, nph, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 4096)
    ph += struct.pack("<IIQQQQQQ", 3, 4, interp_off, interp_off, interp_off, len(interp_b), len(interp_b), 1)
    ph += struct.pack("<IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, len(dyn), len(dyn), 8)
    body = eh + ph + interp_b + strtab
    body += b"\0" * (dyn_off - len(body))
    return body + dyn


write("executable", "libc-only", elf64("/lib64/ld-linux-x86-64.so.2", ["libc.so.6"], ""))
write("executable", "hidden-runpath", elf64("/lib64/ld-linux-x86-64.so.2", ["libudk-driver.so.0", "libc.so.6"],
                                            "$ORIGIN/../lib:/tmp/build/lib"))
write("executable", "missing-interp", elf64("/lib/ld-musl-x86_64.so.1", ["libc.musl-x86_64.so.1"], ""))
write("executable", "by-path", elf64("/lib64/ld-linux-x86-64.so.2", ["/opt/x/libx.so", "libnowhere.so.9"], ""))
write("executable", "script", b"#!/bin/sh\necho driver\n")
