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
