#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The load of bench/memory/run.sh, on 127.0.0.1 only; standard library.

  client.py login PORT EMAIL PASSWORD N
      N logins at once (one connection each, all started together);
      prints how many answered 200 and exits non-zero unless all did.

  client.py ws PORT TOKEN N
      opens N WebSockets to /api/v1/events (subprotocol
      vibebox.events.v1, the token in Authorization), 200 handshakes in
      flight at most; prints "open N" once all are open, then holds them
      until its standard input closes, closes each with 1000 and prints
      "closed N". The handshake is written by hand: a connection costs a
      few KiB here, so one process holds 10,000.
"""

import asyncio
import base64
import http.client
import json
import os
import sys
import threading

HOST = "127.0.0.1"
PATH = "/api/v1/events"
SUBPROTOCOL = "vibebox.events.v1"
IN_FLIGHT = 200


def login(port, email, password, n):
    body = json.dumps({"email": email, "password": password})
    start = threading.Barrier(n)
    codes = []

    def one():
        c = http.client.HTTPConnection(HOST, port, timeout=300)
        start.wait()
        try:
            c.request("POST", "/api/v1/auth/login", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            codes.append(r.status)
        except OSError as e:
            codes.append(str(e))
        finally:
            c.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = codes.count(200)
    print(f"logins: {ok} of {n} answered 200"
          + ("" if ok == n else f" (others: {sorted(set(map(str, codes)))})"))
    return 0 if ok == n else 1


async def ws_open(port, token, gate):
    async with gate:
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {PATH} HTTP/1.1\r\n"
                      f"Host: {HOST}:{port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n"
                      f"Authorization: Bearer {token}\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
        return reader, writer


async def ws_close(writer):
    # a masked close frame, code 1000
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x03\xe8"))
    try:
        writer.write(b"\x88\x82" + mask + payload)
        await writer.drain()
    except OSError:
        pass
    writer.close()


async def ws(port, token, n):
    gate = asyncio.Semaphore(IN_FLIGHT)
    conns = await asyncio.gather(*(ws_open(port, token, gate)
                                   for _ in range(n)))
    print(f"open {len(conns)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(ws_close(w) for _, w in conns))
    print(f"closed {len(conns)}", flush=True)
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "login":
        return login(int(argv[2]), argv[3], argv[4], int(argv[5]))
    if len(argv) == 5 and argv[1] == "ws":
        return asyncio.run(ws(int(argv[2]), argv[3], int(argv[4])))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
