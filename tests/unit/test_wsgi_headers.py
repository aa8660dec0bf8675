"""The request header reader that replaces pywsgi's e-mail parser (server/wsgi_headers.py)."""

import io

from shipway.server.wsgi_headers import MAX_HEADERS, MAX_LINE, read_headers


def _read(block: bytes):
    rfile = io.BufferedReader(io.BytesIO(block))
    return read_headers(rfile), rfile.read()


def test_fields_in_order_case_insensitive_and_the_body_left_unread():
    headers, rest = _read(b"Host: a\r\nContent-Type: text/plain\r\nX-Two: 1\r\nx-two: 2\r\n\r\nbody")
    assert headers.status == ""
    assert headers.get("content-type") == headers.typeheader == "text/plain"
    assert headers.getheader("HOST") == "a"
    assert headers.get("missing", "d") == "d"
    assert list(headers.headers) == ["Host: a\r\n", "Content-Type: text/plain\r\n", "X-Two: 1\r\n", "x-two: 2\r\n"]
    del headers["x-two"]
    assert headers.get("X-Two") is None
    assert rest == b"body"


def test_values_are_trimmed_and_folded_lines_joined():
    headers, _ = _read(b"X-A:   spaced  \r\nX-B: one\r\n  two\r\n\r\n")
    assert headers.get("x-a") == "spaced"
    assert headers.get("x-b") == "one two"


def test_bare_newlines_and_end_of_stream_end_the_block():
    assert _read(b"A: 1\nB: 2\n\nrest")[0].get("b") == "2"
    assert _read(b"A: 1\r\n")[0].get("a") == "1"


def test_malformed_blocks_are_refused_with_a_status():
    assert _read(b"no colon here\r\n\r\n")[0].status == "Invalid header line"
    assert _read(b"Host : a\r\n\r\n")[0].status == "Invalid header line"  # RFC 9112 §5.1
    assert _read(b": empty name\r\n\r\n")[0].status == "Invalid header line"
    assert _read(b"X Y: inner space\r\n\r\n")[0].status == "Invalid header line"
    assert _read(b"X\x00: nul\r\n\r\n")[0].status == "Invalid header line"
    assert _read(b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n")[0].status == "Conflicting Content-Length headers"
    assert _read(b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n")[0].status == ""  # the same value twice
    assert _read(b" folded first\r\n\r\n")[0].status.startswith("Header block starts")
    assert _read(b"X: " + b"a" * MAX_LINE + b"\r\n\r\n")[0].status == "Line too long"
    many = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n"
    assert _read(many)[0].status == f"More than {MAX_HEADERS} headers"
