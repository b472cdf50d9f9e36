#!/usr/bin/env python3
"""The rig's host agent: lets guest tests act on the machine from outside,
as a user or the hardware would (keys typed on QEMU's keyboards, devices
plugged and unplugged).

scripts/guest.sh starts it beside QEMU.  The guest's second serial port
(/dev/ttyS1) is connected to AGENT.sock; each line the guest writes there is
one QMP command (JSON), which the agent sends to QEMU's QMP socket; the
answer goes back as one line of JSON.  Guests use tests/guest/lib/qmp.py.

    host-agent.py QMP.sock AGENT.sock
"""
import json
import socket
import sys
import time


def connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.1)


class Qmp:
    def __init__(self, path):
        self.s = connect(path, time.time() + 60)
        self.f = self.s.makefile("rwb", buffering=0)
        self.read()  # the greeting
        self.call({"execute": "qmp_capabilities"})

    def read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QEMU closed QMP")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def call(self, cmd):
        self.f.write(json.dumps(cmd).encode() + b"\n")
        return self.read()


def main():
    qmp = Qmp(sys.argv[1])
    guest = connect(sys.argv[2], time.time() + 60)
    buf = b""
    while True:
        data = guest.recv(4096)
        if not data:
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.strip()
            if not line:
                continue
            try:
                answer = qmp.call(json.loads(line))
            except EOFError:
                return
            except Exception as e:  # a malformed request: say so, go on
                answer = {"error": {"class": "AgentError", "desc": str(e)}}
            guest.sendall(json.dumps(answer).encode() + b"\n")


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError):
        pass
