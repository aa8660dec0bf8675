"""Validation of names, limits and typed content (each error with its field, line and column).

Limits (documented in docs/config.md):

* dataId: 1–256 characters, group and namespace 1–128, of ``[A-Za-z0-9_.:-]`` (not ``.`` or ``..``);
* content: at most :data:`MAX_CONTENT_BYTES` bytes of UTF-8 (ZooKeeper refuses packets over 1 MiB,
  and the znode also carries a small header);
* description ≤ 1,024 characters; at most 20 tags of ≤ 64 characters each.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from shipway.core.errors import BadRequest, PayloadTooLarge, ValidationFailed

MAX_CONTENT_BYTES = 1_000_000
MAX_DESC = 1024
MAX_TAGS = 20
MAX_TAG_LEN = 64
TYPES = ("text", "properties", "yaml", "json", "xml", "toml", "html")
DEFAULT_NAMESPACE = "public"
DEFAULT_GROUP = "DEFAULT_GROUP"

_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_LIMITS = {"dataId": 256, "group": 128, "namespace": 128}


def check_name(value: Any, field: str) -> str:
    """A valid dataId/group/namespace, or a 400 naming ``field``."""
    limit = _LIMITS.get(field, 128)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} is required", field=field)
    if len(value) > limit or not _NAME.match(value) or value in (".", ".."):
        raise BadRequest(f"invalid {field} {value[:80]!r}: use 1-{limit} characters of A-Z a-z 0-9 _ . : -",
                         field=field)
    return value


def check_type(value: Any) -> str:
    t = (value or "text").lower() if isinstance(value, str) or value is None else value
    if t not in TYPES:
        raise BadRequest(f"unknown type {value!r} (types: {', '.join(TYPES)})", field="type")
    return t


def check_size(content: str) -> int:
    size = len(content.encode("utf-8"))
    if size > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(f"content is {size} bytes; the limit is {MAX_CONTENT_BYTES} bytes",
                              details={"limit": MAX_CONTENT_BYTES, "size": size, "field": "content"})
    return size


def check_meta(description: Any, tags: Any) -> tuple[str, list[str]]:
    """Normalised description and tag list (tags may be a list or a comma-separated string)."""
    desc = description or ""
    if not isinstance(desc, str) or len(desc) > MAX_DESC:
        raise BadRequest(f"description must be a string of at most {MAX_DESC} characters", field="desc")
    if tags is None or tags == "":
        tag_list: list[str] = []
    elif isinstance(tags, str):
        tag_list = [t.strip() for t in tags.split(",") if t.strip()]
    elif isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        tag_list = [t.strip() for t in tags if t.strip()]
    else:
        raise BadRequest("tags must be a list of strings or a comma-separated string", field="tags")
    if len(tag_list) > MAX_TAGS or any(len(t) > MAX_TAG_LEN or "," in t for t in tag_list):
        raise BadRequest(f"at most {MAX_TAGS} tags of at most {MAX_TAG_LEN} characters", field="tags")
    return desc, sorted(set(tag_list))


def content_errors(content: str, type_: str) -> list[dict[str, Any]]:
    """Errors of typed content (empty list when valid); each has ``line``, ``column`` and ``message``."""
    checker = _CHECKERS.get(type_)
    if checker is None:
        return []
    err = checker(content)
    return [err] if err else []


def check_content(content: Any, type_: str) -> str:
    """Valid content or :class:`ValidationFailed` (400) with the first error's line:column."""
    if not isinstance(content, str):
        raise BadRequest("content must be a string", field="content")
    check_size(content)
    errors = content_errors(content, type_)
    if errors:
        e = errors[0]
        raise ValidationFailed(f"invalid {type_} content at line {e['line']}:{e['column']}: {e['message']}",
                               errors)
    return content


def _err(line: int, column: int, message: str) -> dict[str, Any]:
    return {"path": "content", "line": line, "column": column, "message": message}


def _json(text: str):
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return _err(e.lineno, e.colno, e.msg)
    return None


def _yaml(text: str):
    import yaml

    try:
        for _ in yaml.safe_load_all(text):
            pass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return _err(line, col, str(e.problem or e.context or "invalid YAML"))
    except yaml.YAMLError as e:
        return _err(1, 1, str(e))
    return None


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def _toml(text: str):
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_AT.search(msg)
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        return _err(line, col, _TOML_AT.sub("", msg).strip() or "invalid TOML")
    return None


def _xml(text: str):
    from xml.parsers import expat

    parser = expat.ParserCreate()

    def no_entities(*_a):  # entity declarations allow billion-laughs style blow-ups: refuse them
        raise ValueError("entity declarations are not allowed")

    parser.EntityDeclHandler = no_entities
    try:
        parser.Parse(text, True)
    except expat.ExpatError as e:
        return _err(e.lineno, e.offset + 1, expat.ErrorString(e.code))
    except ValueError as e:
        return _err(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1, str(e))
    return None


_UESC = re.compile(r"\\u(?![0-9a-fA-F]{4})")


def _properties(text: str):
    """Java ``.properties``: nearly everything parses; a malformed ``\\uXXXX`` escape does not."""
    if "\\u" not in text:
        return None  # no escape at all, so no malformed one (most files: checked without a line loop)
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(("#", "!")):
            continue
        # An even run of backslashes before 'u' is an escaped backslash, not an escape.
        for m in _UESC.finditer(line):
            run = len(line[:m.start() + 1]) - len(line[:m.start() + 1].rstrip("\\"))
            if run % 2 == 1:
                return _err(n, m.start() + 1, "malformed \\uXXXX encoding")
    return None


_CHECKERS = {"json": _json, "yaml": _yaml, "toml": _toml, "xml": _xml, "properties": _properties}


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text into a dict (continuations, ``=``/``:``/space separators, escapes)."""
    result: dict[str, str] = {}
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.lstrip() if not buf else raw.lstrip()
        if not buf and (not line or line.startswith(("#", "!"))):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            buf += line[:-1]
            continue
        logical.append(buf + line)
        buf = ""
    if buf:
        logical.append(buf)
    for line in logical:
        key, i, n = "", 0, len(line)
        while i < n:
            c = line[i]
            if c == "\\" and i + 1 < n:
                key += line[i:i + 2]
                i += 2
                continue
            if c in "=: \t\f":
                break
            key += c
            i += 1
        while i < n and line[i] in " \t\f":
            i += 1
        if i < n and line[i] in "=:":
            i += 1
        while i < n and line[i] in " \t\f":
            i += 1
        result[_unescape(key)] = _unescape(line[i:])
    return result


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt == "u" and i + 6 <= len(s):
                try:
                    out.append(chr(int(s[i + 2:i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
