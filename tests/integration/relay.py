# SPDX-License-Identifier: Apache-2.0
"""relay.py - a byte-for-byte relay the integration tests put between
vibeboxd and what it talks to (itself, the Docker engine, PostgreSQL), so
that they can cut its connections or take it down.

    r = Relay(lambda: socket.create_connection(("127.0.0.1", port)))
    r.port                   # listens on 127.0.0.1:port ...
    r = Relay(connect, unix_path="/tmp/x/docker.sock")   # ... or there
    r.cut()                  # close every open connection (how many)
    r.down(); r.up()         # cut, and hang up on new ones until up()
    r.close()
"""
import socket
import threading


class Relay:
    def __init__(self, connect, unix_path=None):
        self.connect = connect
        if unix_path:
            self.path = unix_path
            self.srv = socket.socket(socket.AF_UNIX)
            self.srv.bind(unix_path)
            self.srv.listen(16)
        else:
            self.srv = socket.create_server(("127.0.0.1", 0))
            self.port = self.srv.getsockname()[1]
        self.is_down = False
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                if self.is_down:
                    raise OSError("the relay is down")
                u = self.connect()
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        return len(conns)

    def down(self):
        self.is_down = True
        self.cut()

    def up(self):
        self.is_down = False

    def close(self):
        self.srv.close()
        self.cut()
