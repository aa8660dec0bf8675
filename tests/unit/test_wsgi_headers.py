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


def test_a_repeated_name_answers_its_first_value_and_a_folded_line_counts():
    headers, _ = _read(b"X-A: first\r\nx-a: second\r\nX-B: one\r\n  two\r\n\r\n")
    assert headers.get("X-A") == "first"
    assert headers.get("x-b") == "one two"


def test_environ_items_are_what_pywsgi_derives_from_the_lines():
    headers, _ = _read(b"Host: a\r\nX-Request-Id: r1\r\nX_Sneaky: no\r\nContent-Type: text/plain\r\n"
                       b"Content-Length: 3\r\nx-two: 1\r\nX-Two: 2\r\n\r\n")
    assert list(headers.environ_items()) == [("HTTP_HOST", "a"), ("HTTP_X_REQUEST_ID", "r1"),
                                             ("HTTP_X_TWO", "1"), ("HTTP_X_TWO", "2")]


def test_the_server_builds_the_same_environ_as_pywsgi():
    """Through a real socket pair: the HTTP_* keys and joined duplicates, as gevent's own handler gives them."""
    import socket

    import gevent.pywsgi

    from shipway.server.wsgi import make_server

    seen = []

    def app(environ, start_response):
        seen.append({k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))})
        start_response("204 No Content", [])
        return []

    request = (b"POST /x HTTP/1.1\r\nHost: h\r\nX-Two: 1\r\nx-two: 2\r\nX_Bad: 3\r\nContent-Type: a/b\r\n"
               b"Content-Length: 2\r\nConnection: close\r\n\r\nhi")
    ours_server = make_server(app, "127.0.0.1", 0)
    ours_server.close()
    for handler in (ours_server.handler_class, gevent.pywsgi.WSGIHandler):
        ours, theirs = socket.socketpair()
        server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None)
        theirs.sendall(request)
        handler(ours, ("127.0.0.1", 1), server).handle()
        theirs.close()
        server.close()
    assert seen[0] == seen[1] == {"HTTP_HOST": "h", "HTTP_X_TWO": "1,2", "HTTP_CONNECTION": "close",
                                  "CONTENT_TYPE": "a/b", "CONTENT_LENGTH": "2"}
