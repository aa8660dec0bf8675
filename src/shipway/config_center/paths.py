"""The config center's ZooKeeper subtree and the value format stored in it.

::

    /shipway/config/<namespace>/<group>/<dataId>        current value (one znode per config)
    /shipway/config-beta/<namespace>/<group>/<dataId>   gray (beta) release of that config

A znode's data is one JSON header line followed by the raw UTF-8 content::

    {"v":1,"version":7,"md5":"…","type":"yaml","author":"alice","time":1700000000000}\\n<content bytes>

so a watcher gets content, MD5, version and type consistently in one read, and content is never
escaped (JSON-escaping could double its size and break ZooKeeper's 1 MB packet limit). A beta znode's
header also carries ``ips`` (list) and ``labels`` (object).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shipway.core import zkpaths


def config_path(namespace: str, group: str, data_id: str) -> str:
    """Znode of a config's current value (names must be validated first)."""
    return zkpaths.CONFIG + "/" + zkpaths.join(namespace, group, data_id)


def beta_path(namespace: str, group: str, data_id: str) -> str:
    """Znode of a config's gray (beta) release."""
    return zkpaths.CONFIG_BETA + "/" + zkpaths.join(namespace, group, data_id)


def md5_of(content: str) -> str:
    """Lowercase hex MD5 of the UTF-8 content (what Nacos clients compute too)."""
    return hashlib.md5(content.encode("utf-8")).hexdigest()  # noqa: S324 - a change detector, not security


@dataclass(frozen=True)
class Value:
    """A decoded znode: content plus its header (``version`` 0 for a beta)."""

    content: str
    md5: str
    version: int = 0
    type: str = "text"
    author: str = ""
    time: int = 0  # epoch milliseconds
    desc: str = ""
    tags: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        h: dict[str, Any] = {"v": 1, "version": self.version, "md5": self.md5, "type": self.type,
                             "author": self.author, "time": self.time}
        if self.desc:
            h["desc"] = self.desc
        if self.tags:
            h["tags"] = list(self.tags)
        if self.ips or self.labels:
            h["ips"] = list(self.ips)
            h["labels"] = dict(self.labels)
        return h

    def encode(self) -> bytes:
        return json.dumps(self.header(), separators=(",", ":")).encode() + b"\n" + self.content.encode("utf-8")

    def matches(self, ip: str, labels: dict[str, str] | None) -> bool:
        """Whether a client with ``ip`` and ``labels`` sees this beta: its IP is listed, or it carries
        every label of the beta's label selector."""
        if ip and ip in self.ips:
            return True
        if self.labels and labels:
            return all(labels.get(k) == v for k, v in self.labels.items())
        return False


def decode(data: bytes | None) -> Value | None:
    """Parse a znode's data; ``None`` for an empty/foreign znode."""
    if not data:
        return None
    head, _, body = data.partition(b"\n")
    try:
        h = json.loads(head)
    except ValueError:
        return None
    if not isinstance(h, dict) or "md5" not in h:
        return None
    return Value(content=body.decode("utf-8"), md5=h["md5"], version=int(h.get("version", 0)),
                 type=h.get("type", "text"), author=h.get("author", ""), time=int(h.get("time", 0)),
                 desc=h.get("desc", ""), tags=tuple(h.get("tags") or ()),
                 ips=tuple(h.get("ips") or ()), labels=dict(h.get("labels") or {}))
