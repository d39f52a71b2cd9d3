# SPDX-License-Identifier: Apache-2.0
"""RFC 6455 framing against a real daemon, with a raw-socket client that
can send what a well-behaved library never would: each broken frame must
end in a close frame with the RFC's code (1002 protocol error, 1007
invalid UTF-8, 1009 too big), the route must not see it, and well-formed
control frames still work (ping answered with the same payload).

The route is testkit's echo (vibebox.test.v1): a message it sees comes
back as "echo:<message>", so a broken frame that was executed shows."""

import base64
import os
import socket
import struct
import time

from daemon import Daemon, Suite, expect

TESTKIT = '{ name = "testkit"; }'
PATH = "/api/v1/x/testkit/ws"
PROTO = "vibebox.test.v1"
D = None


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One client frame. length: the length to put in the header (for a
    header that lies), else the payload's."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


class Raw:
    """A WebSocket opened by hand, reading the server's frames."""

    def __init__(self, d):
        self.sock = socket.create_connection(("127.0.0.1", d.port), 10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             f"Sec-WebSocket-Protocol: {PROTO}\r\n"
             "Authorization: Bearer alice\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        expect(head.startswith(b"HTTP/1.1 101"), f"upgrade: {head!r}")
        op, msg = self.next()
        expect((op, msg) == (1, b"hello alice@example.test"),
               f"hello: {op} {msg!r}")

    def fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise EOFError("the server closed the TCP connection")
        self.buf += b

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self):
        """The next frame from the server: (opcode, payload)."""
        b0, b1 = self.take(2)
        expect(not b1 & 0x80, "server frames are not masked")
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack(">H", self.take(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.take(8))[0]
        return b0 & 0x0f, self.take(n)

    def send(self, data):
        self.sock.sendall(data)

    def closed_with(self):
        """The code of the server's close frame; no message before it."""
        while True:
            try:
                op, payload = self.next()
            except EOFError:
                raise AssertionError("the connection dropped without a "
                                     "close frame")
            expect(op in (8, 10), f"frame {op} {payload!r} before close")
            if op == 8:
                break
        expect(len(payload) >= 2, f"close without a code: {payload!r}")
        code = struct.unpack(">H", payload[:2])[0]
        # the server then ends the TCP connection (maybe after our echo)
        try:
            self.send(frame(8, close_payload(code)))
        except OSError:
            pass
        self.sock.settimeout(5)
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass
        self.sock.close()
        return code

    def echo_works(self):
        self.send(frame(1, b"still-here"))
        op, msg = self.next()
        return op == 1 and msg == b"echo:still-here"


def refused(data, code, what):
    """Send data on a fresh socket: the server closes with code."""
    r = Raw(D)
    r.send(data)
    got = r.closed_with()
    expect(got == code, f"{what}: closed with {got}, expected {code}")


# ---- checks ----

def test_an_unmasked_frame_is_1002():
    refused(frame(1, b"unmasked", mask=False), 1002, "unmasked text")


def test_an_unmasked_frame_after_good_ones_is_1002():
    r = Raw(D)
    expect(r.echo_works(), "echo before")
    # a good frame and an unmasked one in one write: the second is never
    # executed (the first's answer may or may not leave before the close)
    r.send(frame(1, b"one") + frame(1, b"two", mask=False))
    op, msg = r.next()
    if (op, msg) == (1, b"echo:one"):
        op, msg = r.next()
    expect(op == 8 and msg[:2] == close_payload(1002),
           f"{op} {msg!r} instead of close 1002")


def test_an_unmasked_header_split_across_writes_is_1002():
    r = Raw(D)
    data = frame(1, b"split", mask=False)
    r.send(data[:1])
    time.sleep(0.2)
    r.send(data[1:])
    expect(r.closed_with() == 1002, "split header")


def test_reserved_bits_are_1002():
    for rsv in (1, 2, 4):
        refused(frame(1, b"x", rsv=rsv), 1002, f"rsv {rsv}")


def test_unknown_opcodes_are_1002():
    for op in (3, 7, 0xb, 0xf):
        refused(frame(op, b"x"), 1002, f"opcode {op}")


def test_a_fragmented_control_frame_is_1002():
    refused(frame(9, b"ping", fin=False), 1002, "fragmented ping")


def test_a_control_frame_over_125_bytes_is_1002():
    refused(frame(9, b"p" * 126), 1002, "ping of 126 bytes")
    refused(frame(8, close_payload(1000, b"r" * 200)), 1002,
            "close of 202 bytes")


def test_a_continuation_without_a_start_is_1002():
    refused(frame(0, b"orphan"), 1002, "continuation first")


def test_a_new_message_inside_a_fragmented_one_is_1002():
    refused(frame(1, b"part", fin=False) + frame(1, b"again"), 1002,
            "text inside text")


def test_invalid_utf8_in_a_text_message_is_1007():
    refused(frame(1, b"\xff\xfe"), 1007, "bad byte")
    refused(frame(1, b"\xed\xa0\x80"), 1007, "surrogate")
    refused(frame(1, b"ok \xe2\x82"), 1007, "cut at the end")
    # a sequence split between fragments is valid
    r = Raw(D)
    r.send(frame(1, b"euro \xe2\x82", fin=False) + frame(0, b"\xac"))
    op, msg = r.next()
    expect((op, msg) == (1, "echo:euro \u20ac".encode()), f"{op} {msg!r}")


def test_invalid_utf8_in_a_close_reason_is_1007():
    refused(frame(8, close_payload(1000, b"bye \xff")), 1007, "reason")


def test_close_codes_not_for_the_wire_are_1002():
    for code in (0, 999, 1004, 1005, 1006, 1016, 2999, 5000, 65535):
        refused(frame(8, close_payload(code)), 1002, f"code {code}")
    refused(frame(8, b"\x03"), 1002, "a 1-byte close body")


def test_a_valid_close_is_echoed():
    for code in (1000, 1001, 3000, 4999):
        refused(frame(8, close_payload(code, b"fine")), code,
                f"code {code}")


def test_a_ping_gets_a_pong_with_its_payload():
    r = Raw(D)
    for payload in (b"", b"abc", bytes(range(125))):
        r.send(frame(9, payload))
        op, got = r.next()
        expect(op == 10 and got == payload, f"pong {op} {got!r}")
    expect(r.echo_works(), "echo after pings")
    r.send(frame(8, close_payload(1000)))
    expect(r.closed_with() == 1000, "close")


def test_a_message_over_the_limit_is_1009():
    # server.max_body is 64 KiB here: one frame, then a message in two
    refused(frame(2, b"b" * (64 * 1024 + 1)), 1009, "one frame")
    refused(frame(2, b"b" * 40000, fin=False) + frame(0, b"b" * 40000),
            1009, "two fragments")


if __name__ == "__main__":
    s = Suite()
    D = Daemon(plugins=TESTKIT, server='max_body = "64KiB";').start()
    try:
        for name, fn in list(globals().items()):
            if name.startswith("test_"):
                s.run(fn)
    finally:
        code = D.stop()
        if s.failed:
            print(f"# daemon log: {D.logpath}")
        s.run(lambda: expect(code == 0, f"vibeboxd exit {code}"))
    s.finish()
