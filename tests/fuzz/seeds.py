#!/usr/bin/env python3
"""Write seed inputs for fuzz_guest_decoder into the folder given as argv[1].

Each seed is a well-formed guest conversation, so the fuzzer starts from
inputs that get past the header checks. Layout: see the fuzz target.
"""
import os
import struct
import sys

HELLO, STDOUT, STDERR, FILE_OUT, WINDOW, FILE_CHANGED, EXIT, READY = 1, 4, 5, 7, 8, 11, 12, 15


def frame(msg_type, channel, payload=b""):
    return struct.pack("<HHII", msg_type, 0, channel, len(payload)) + payload


def hello():
    """HELLO, then READY, which the guest sends after the host's IDENTITY."""
    return frame(HELLO, 0, struct.pack("<II", 2, 65536)) + frame(READY, 0)


def exit_frame(kind=1, value=0, text=b""):
    return frame(EXIT, 1, struct.pack("<Ii", kind, value) + text)


SEEDS = {
    "run": bytes([0, 7]) + hello() + frame(STDOUT, 1, b"hi\n") + frame(STDERR, 1, b"err\n")
    + frame(STDOUT, 1) + frame(STDERR, 1) + exit_frame(1, 3),
    "window": bytes([0, 3]) + hello() + frame(WINDOW, 1, struct.pack("<II", 3, 4096))
    + frame(STDOUT, 1) + frame(STDERR, 1) + exit_frame(2, 15, b"killed"),
    "open": bytes([2, 11]) + hello() + frame(WINDOW, 1, struct.pack("<II", 6, 65536))
    + frame(FILE_CHANGED, 1, struct.pack("<Q", 5)) + frame(FILE_OUT, 1, b"hello")
    + frame(FILE_OUT, 1) + frame(STDOUT, 1) + frame(STDERR, 1) + exit_frame(),
    "not-found": bytes([1, 5]) + hello() + frame(STDOUT, 1) + exit_frame(3, 0, b"command not found: x"),
    "ready-twice": bytes([0, 9]) + hello() + frame(READY, 0),
}

os.makedirs(sys.argv[1], exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(sys.argv[1], name), "wb") as seed:
        seed.write(data)
