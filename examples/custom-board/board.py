#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""board.py - talk to the custom board behind a udk serial port with
pyserial, the open answer to "DriverKit or MFi for my board?": the board's
UART gets a driver, the driver gets a port, and any program (this one,
picocom, screen) talks to the board through an ordinary terminal device.

    board.py [PORT]        (default /dev/cu.customboard-0)

It says hello, blinks a pattern into the board's LEDs, reads them back,
asks the temperature and adds two numbers on the board.  Exit status 0
when every answer is the one the board's protocol promises
(models/uart16550/board.c).
"""
import sys

import serial


def ask(port, line):
    port.write(line.encode() + b"\n")
    answer = port.readline()
    if not answer.endswith(b"\r\n"):
        raise SystemExit("no answer to %r within the timeout (got %r)" % (line, answer))
    answer = answer[:-2].decode()
    print("> %-12s < %s" % (line, answer))
    return answer


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/dev/cu.customboard-0"
    with serial.Serial(path, 115200, timeout=5) as port:
        port.reset_input_buffer()
        ok = ask(port, "HELLO").startswith("CUSTOM-BOARD")
        ok &= ask(port, "PING") == "PONG"
        for led in (0, 2, 7):
            ok &= ask(port, "LED %d ON" % led) == "OK LED %d ON" % led
        ok &= ask(port, "LEDS?") == "LEDS 10000101"
        ok &= ask(port, "TEMP?").startswith("TEMP ")
        ok &= ask(port, "SUM 19 23") == "SUM 42"
        ok &= ask(port, "FLY").startswith("ERR ")
    print("board: all answers as expected" if ok else "board: unexpected answers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
