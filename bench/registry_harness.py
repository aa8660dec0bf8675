"""Shared plumbing of the registry benchmarks (not a benchmark itself): :class:`Serve` (see ``serving.py``)
and light HTTP clients that measure the server rather than a client library.
"""

from __future__ import annotations

from serving import Serve as _Serve, pct


class Serve(_Serve):
    """``shipway serve`` for the registry benchmarks, with its own supervised image registry too (as
    ``make run`` starts it)."""

    def __init__(self) -> None:
        super().__init__("registry", registry="")


def http_call(port: int, method: str, path: str, body: str | None = None, token: str = "") -> tuple[int, bytes]:
    """One request on a fresh connection (a short-lived client; also immune to any keep-alive quirk)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class KeepAlive:
    """One kept-alive HTTP/1.1 connection driven with ``http.client`` (a light client: the figures
    measure the server, not the client library; ``requests`` costs about a millisecond per call)."""

    def __init__(self, port: int, token: str = "") -> None:
        import http.client
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.token = token

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self) -> None:
        self.conn.close()


def form(**values) -> str:
    from urllib.parse import urlencode
    return urlencode(values)


__all__ = ["KeepAlive", "Serve", "form", "http_call", "pct"]
