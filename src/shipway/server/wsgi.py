"""Serving the app: gevent's WSGI server.

Why gevent (see docs/architecture.md): shipway holds many long-lived requests
at once — Nacos config long-polls (30 s each), SSE log streams, Kubernetes
watches. A greenlet per connection costs a few KB, so thousands are held on
one process of this 2-core machine, while a thread-pool server (waitress,
cheroot) would need a thread per held request and buffers or caps them.
``shipway serve`` monkey-patches the standard library before anything else
is imported, so kazoo, the Docker SDK, subprocess and SQLAlchemy cooperate.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def make_server(app, host: str, port: int):
    """A gevent WSGIServer bound to ``host:port`` (raises ``OSError`` if the port is taken)."""
    import socket

    from gevent.pool import Pool
    from gevent.pywsgi import WSGIHandler, WSGIServer

    from shipway.server.wsgi_headers import read_headers

    class OneWriteHandler(WSGIHandler):
        # pywsgi sends a response's headers and its first body chunk in two send() calls; a send costs
        # tens of µs here, which adds up when one config publish answers a thousand held long polls.
        # Hold the header bytes back and send them together with that first chunk (or alone if none).
        _held = None

        def MessageClass(self, rfile, *_args):  # noqa: N802 - pywsgi's name
            return read_headers(rfile)  # not the e-mail parser: see wsgi_headers

        def _headers(self):  # noqa: D401 - pywsgi's name
            # The environ's HTTP_* items straight from the parsed fields (pywsgi formats each field as a
            # line and splits it again).
            return self.headers.environ_items()

        def log_request(self):
            pass  # the app logs each request itself (server/ops.py); pywsgi would format a line for nothing

        def _write_with_headers(self, data):
            self._held = b""
            try:
                super()._write_with_headers(data)
            finally:
                held, self._held = self._held, None
                if held:
                    super()._sendall(held)

        def _sendall(self, data):
            if self._held is not None:
                if not self._held:
                    self._held = bytes(data)  # the header block
                    return
                held, self._held = self._held, None
                if len(data) > 65536:  # a big body: two sends beat copying it
                    super()._sendall(held)
                else:
                    data = held + bytes(data)
            super()._sendall(data)

    class NoDelayServer(WSGIServer):
        # Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to every response on a
        # kept-alive connection (headers and body go out as two small writes).
        def handle(self, sock, address):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            return super().handle(sock, address)

    server = NoDelayServer((host, port), app, spawn=Pool(10000), log=None, handler_class=OneWriteHandler,
                           error_log=logging.getLogger("shipway.wsgi"))
    server.init_socket()
    return server
