"""Secret masking for log streams.

:class:`ByteMasker` replaces every secret value with ``***`` in a byte stream
that arrives in arbitrary pieces: it keeps back the end of a piece that may
begin a secret (at most ``len(longest secret) - 1`` bytes) until the next write,
so a secret split across two writes is still found, and everything else is
passed on at once. Multi-line secrets are masked whole and line by line (a program may
print a PEM key with different line endings or indentation). It works on the
raw bytes (one ``bytes.replace`` per secret over a whole read, ~1 GB/s when the
secret is on every line, memchr speed when it is absent) and only emits whole
UTF-8 characters, so every emitted piece decodes on its own.

:class:`Masker` is the same on text (``str`` in, ``str`` out).
"""

from __future__ import annotations

MASK = "***"
MIN_LINE = 6  # lines of multi-line secrets shorter than this are too common to mask on their own


def secret_variants(values: list[str]) -> list[str]:
    """The strings to mask for ``values``: each value and the long lines of multi-line ones."""
    out: set[str] = set()
    for v in values:
        if not v or len(v) < 3:
            continue  # masking "a" or "1" would destroy every log and protect nothing
        out.add(v)
        if "\n" in v:
            out.add(v.replace("\n", "\r\n"))
            out.update(line.strip() for line in v.splitlines() if len(line.strip()) >= MIN_LINE)
    return sorted(out, key=lambda s: len(s.encode()), reverse=True)  # longest first: a secret containing
    # another is masked whole


def utf8_cut(buf: bytes, cut: int) -> int:
    """``cut`` moved back (at most 3 bytes) so that ``buf[:cut]`` does not end inside a UTF-8 character."""
    cut = max(0, min(cut, len(buf)))
    if cut == 0 or buf[cut - 1] < 0x80:  # ends with ASCII (the usual case): nothing to do
        return cut
    for i in range(cut - 1, max(cut - 4, 0) - 1, -1):
        b = buf[i]
        if b >= 0xC0:  # the lead byte of the last character: is it complete before cut?
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return cut if i + need <= cut else i
        if b < 0x80:
            return cut  # stray continuation bytes after ASCII: not UTF-8, cut where asked
    return cut


class ByteMasker:
    """Mask ``secrets`` in bytes written in pieces; call :meth:`close` for the rest."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s.encode("utf-8", "surrogateescape") for s in secret_variants(secrets)]
        self.keep = max((len(s) for s in self.secrets), default=1) - 1
        self._firsts = sorted({s[:1] for s in self.secrets})
        self.tail = b""

    def _mask(self, data: bytes) -> bytes:
        for s in self.secrets:
            data = data.replace(s, b"***")  # one scan per secret; no copy when absent
        return data

    def _held(self, buf: bytes) -> int:
        """Where the held-back end of ``buf`` starts: the earliest position from which the rest of ``buf`` is
        the beginning of a secret (it may be completed by the next write); ``len(buf)`` when there is none.
        Any secret that starts in ``buf`` and is not complete there starts at or after that position."""
        best = len(buf)
        lo = max(0, best - self.keep)
        for first in self._firsts:  # candidates: the secrets' first bytes in the last ``keep`` bytes
            i = buf.find(first, lo, best)
            while i != -1:
                rest = buf[i:]
                if any(s.startswith(rest) for s in self.secrets):
                    best = i
                    break
                i = buf.find(first, i + 1, best)
        return best

    def write(self, data: bytes) -> bytes:
        """Masked bytes that are safe to emit now (whole UTF-8 characters; may be shorter than the input).

        Only an end that may begin a secret is held back until the next write, so a line is emitted as soon
        as it is written (live logs do not lag a line behind), and a piece is passed on without a copy."""
        buf = self.tail + data if self.tail else bytes(data)
        if self.secrets:
            buf = self._mask(buf)
            cut = utf8_cut(buf, self._held(buf))
        else:
            cut = utf8_cut(buf, len(buf))
        if cut == len(buf):
            self.tail = b""
            return buf
        self.tail = buf[cut:]
        return buf[:cut]

    def close(self) -> bytes:
        """The held-back rest, masked."""
        rest, self.tail = self._mask(self.tail), b""
        return rest

    def drop(self) -> int:
        """Forget the held-back rest (the log is cut here: a secret's prefix must not be emitted); how many
        bytes that was."""
        n, self.tail = len(self.tail), b""
        return n


class Masker:
    """:class:`ByteMasker` on text: ``write``/``write_bytes`` return ``str``."""

    def __init__(self, secrets: list[str]) -> None:
        self._m = ByteMasker(secrets)
        self.secrets = secret_variants(secrets)

    def write(self, text: str) -> str:
        return self._m.write(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")

    def write_bytes(self, data: bytes) -> str:
        return self._m.write(data).decode("utf-8", "replace")

    def close(self) -> str:
        return self._m.close().decode("utf-8", "replace")
