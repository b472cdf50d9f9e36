#!/usr/bin/env python3
"""Guest side of the rig's host agent (tests/guest/lib/host-agent.py): send
QMP commands to the QEMU running this guest, through /dev/ttyS1.

    qmp.py '{"execute": "query-status"}'          one command, prints the answer
    qmp.py key [--device ID] [--hold MS] KEY...   press and release keys (QEMU
                                                  qcodes: a, caps_lock, esc, ...)
    qmp.py press|release [--device ID] KEY...

Exit status 0 when QEMU answered with a result, 1 with its error.  --device
sends the events to the input device with that QOM id (QEMU's
input-send-event); without it they go to QEMU's active keyboard.
"""
import json
import os
import select
import sys
import termios
import time
import tty

PORT = "/dev/ttyS1"


def call(cmd, timeout=20):
    fd = os.open(PORT, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        termios.tcflush(fd, termios.TCIFLUSH)
        os.write(fd, json.dumps(cmd).encode() + b"\n")
        buf = b""
        deadline = time.time() + timeout
        while b"\n" not in buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the host agent did not answer within %d s" % timeout)
            buf += os.read(fd, 4096)
        return json.loads(buf.split(b"\n", 1)[0])
    finally:
        os.close(fd)


def key_events(keys, down, device):
    cmd = {"execute": "input-send-event", "arguments": {"events": [
        {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": k}}} for k in keys]}}
    if device:
        cmd["arguments"]["device"] = device
    return cmd


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] in ("key", "press", "release"):
        verb, args, device, hold = argv[0], argv[1:], None, 0
        while args and args[0].startswith("--"):
            if args[0] == "--device":
                device, args = args[1], args[2:]
            elif args[0] == "--hold":
                hold, args = int(args[1]), args[2:]
            else:
                print("qmp.py: unknown option " + args[0], file=sys.stderr)
                return 2
        answers = []
        if verb == "key":
            for k in args:
                answers.append(call(key_events([k], True, device)))
                if hold:
                    time.sleep(hold / 1000)
                answers.append(call(key_events([k], False, device)))
        else:
            answers.append(call(key_events(args, verb == "press", device)))
        bad = [a for a in answers if "error" in a]
        if bad:
            print(json.dumps(bad[0]), file=sys.stderr)
            return 1
        return 0
    answer = call(json.loads(argv[0]))
    print(json.dumps(answer))
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
