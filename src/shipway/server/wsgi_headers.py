"""A lean reader of HTTP request headers for gevent's WSGI server.

gevent's pywsgi parses every request's header block with ``http.client.parse_headers``, which runs
the standard library's e-mail parser: about a tenth of the server's CPU per small API request here.
:func:`read_headers` reads the same block line by line and returns the small part of
``http.client.HTTPMessage`` that pywsgi uses. It is stricter where RFC 9110/9112 say a server must
be: a field name that is not a token (whitespace before the colon included), a line without a colon, or
two different ``Content-Length`` values (a request-smuggling vector) make the request a 400.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
MAX_LINE = 65536  # http.client's limits
MAX_HEADERS = 100


class RequestHeaders:
    """Header fields in arrival order; ``status`` is non-empty when the block was refused.

    pywsgi asks for a header by name about eight times per request (content type and length, chunked,
    connection, upgrade…): each is one lookup in a lower-cased index, not a scan of the fields."""

    __slots__ = ("_fields", "_first", "status")

    def __init__(self, fields: list[tuple[str, str]] | None = None, status: str = "") -> None:
        self._fields = fields or []
        self._first: dict[str, str] = {}  # lower-cased name -> value of its first field
        for key, value in reversed(self._fields):
            self._first[key.lower()] = value
        self.status = status

    def get(self, name: str, default=None):
        return self._first.get(name.lower(), default)

    getheader = get

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self._fields = [(k, v) for k, v in self._fields if k.lower() != name]
        self._first.pop(name, None)

    @property
    def headers(self):
        """The lines, the way pywsgi's environ builder iterates them."""
        for key, value in self._fields:
            yield f"{key}: {value}\r\n"

    def environ_items(self):
        """``(HTTP_NAME, value)`` for the WSGI environ, as pywsgi derives them from :attr:`headers`: names with
        an underscore are dropped (``X_A`` must not pass for ``X-A``), Content-Type and -Length are left out
        (they have their own keys)."""
        for key, value in self._fields:
            if "_" in key:
                continue
            name = key.replace("-", "_").upper()
            if name != "CONTENT_TYPE" and name != "CONTENT_LENGTH":
                yield "HTTP_" + name, value

    @property
    def typeheader(self):
        return self._first.get("content-type")


def read_headers(rfile) -> RequestHeaders:
    """Read the header block (up to the blank line) from ``rfile``."""
    fields: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(MAX_LINE + 1)
        if len(raw) > MAX_LINE:
            return RequestHeaders(status="Line too long")
        if raw in (b"\r\n", b"\n", b""):
            return RequestHeaders(fields)
        line = raw.decode("iso-8859-1")
        if line[:1] in (" ", "\t"):  # obsolete line folding: a continuation of the previous value
            if not fields:
                return RequestHeaders(status="Header block starts with a continuation line")
            key, value = fields[-1]
            fields[-1] = (key, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.match(name):
            return RequestHeaders(status="Invalid header line")
        if len(fields) >= MAX_HEADERS:
            return RequestHeaders(status=f"More than {MAX_HEADERS} headers")
        value = value.strip()
        if name.lower() == "content-length" and any(k.lower() == "content-length" and v != value
                                                    for k, v in fields):
            return RequestHeaders(status="Conflicting Content-Length headers")
        fields.append((name, value))
