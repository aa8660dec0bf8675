"""Secret masking for log streams.

:class:`Masker` replaces every secret value with ``***`` in a stream of text
that arrives in arbitrary pieces: it keeps the last ``len(longest secret) - 1``
characters back until the next write, so a secret split across two writes is
still found. Multi-line secrets are masked whole and line by line (a program
may print a PEM key with different line endings or indentation).
"""

from __future__ import annotations

import codecs

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
    return sorted(out, key=len, reverse=True)  # longest first: a secret containing another is masked whole


class Masker:
    """Mask ``secrets`` in text written in pieces; call :meth:`close` for the rest."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secret_variants(secrets)
        self.keep = max((len(s) for s in self.secrets), default=1) - 1
        self.tail = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def _mask(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, MASK)  # one scan per secret (fastsearch); no copy when absent
        return text

    def write(self, text: str) -> str:
        """Masked text that is safe to emit now (may be shorter than what came in)."""
        if not self.secrets:
            return text
        buf = self._mask(self.tail + text)
        if self.keep <= 0:
            self.tail = ""
            return buf
        self.tail = buf[-self.keep:]
        return buf[:-self.keep]

    def write_bytes(self, data: bytes) -> str:
        """Decode (UTF-8, split characters kept for the next piece) and mask."""
        return self.write(self._decoder.decode(data))

    def close(self) -> str:
        rest = self._mask(self.tail + self._decoder.decode(b"", final=True))
        self.tail = ""
        return rest
