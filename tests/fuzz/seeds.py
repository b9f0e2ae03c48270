#!/usr/bin/env python3
"""Write seed inputs for fuzz_guest_decoder into the folder given as argv[1].

Each seed is a well-formed guest conversation, so the fuzzer starts from
inputs that get past the header checks. Layout: see the fuzz target (byte
0 START flags, byte 1 cut seed, byte 2 number of channels started - 1).
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


def exit_frame(kind=1, value=0, text=b"", channel=1):
    return frame(EXIT, channel, struct.pack("<Ii", kind, value) + text)


def ends(channel):
    return frame(STDOUT, channel) + frame(STDERR, channel)


SEEDS = {
    "run": bytes([0, 7, 0]) + hello() + frame(STDOUT, 1, b"hi\n") + frame(STDERR, 1, b"err\n")
    + frame(STDOUT, 1) + frame(STDERR, 1) + exit_frame(1, 3),
    "window": bytes([0, 3, 0]) + hello() + frame(WINDOW, 1, struct.pack("<II", 3, 4096))
    + frame(STDOUT, 1) + frame(STDERR, 1) + exit_frame(2, 15, b"killed"),
    "open": bytes([2, 11, 0]) + hello() + frame(WINDOW, 1, struct.pack("<II", 6, 65536))
    + frame(FILE_CHANGED, 1, struct.pack("<Q", 5)) + frame(FILE_OUT, 1, b"hello")
    + frame(FILE_OUT, 1) + frame(STDOUT, 1) + frame(STDERR, 1) + exit_frame(),
    "not-found": bytes([1, 5, 0]) + hello() + frame(STDOUT, 1) + exit_frame(3, 0, b"command not found: x"),
    "ready-twice": bytes([0, 9, 0]) + hello() + frame(READY, 0),
    # A main session and two exec sessions, interleaved; channel 2 ends
    # first, the main one last.
    "three-channels": bytes([0, 9, 2]) + hello() + frame(STDOUT, 2, b"exec\n")
    + frame(STDOUT, 1, b"main\n") + frame(WINDOW, 3, struct.pack("<II", 3, 100))
    + frame(STDERR, 3, b"e3") + ends(2) + exit_frame(1, 0, channel=2)
    + ends(3) + exit_frame(2, 9, channel=3) + ends(1) + exit_frame(1, 3, channel=1),
}

os.makedirs(sys.argv[1], exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(sys.argv[1], name), "wb") as seed:
        seed.write(data)
