"""The instance layout in ZooKeeper: a record znode for identity, a host znode whose NAME is the instance.

Every instance is two znodes, always created, replaced and deleted together in one ZooKeeper
transaction (``multi``), and with the same lifetime (both EPHEMERAL for SDK instances)::

    .../<service>/instances/<instanceId>        the record (JSON) — the unique key and the authority
    .../<service>/hosts/<ip>#<port>#<cluster>!<fields>    empty; the name carries the whole instance
    .../<service>/hosts/<ip>#<port>#<cluster>!!<digest>   the same, for an instance too large for a name

``<ip>#<port>#<cluster>`` is the instanceId without its ``#<group>@@<service>`` (the parent path
says that; names never contain ``/`` or ``!``: see :mod:`registry.model`'s rules);
``<fields>`` is a compact, URL-encoded query string (``w`` weight, ``h`` healthy, ``e`` enabled, ``x`` ephemeral,
``s`` source, ``t`` registeredAt, ``m`` metadata JSON). Neither contains ``/`` or ``!``. So one
``get_children`` of ``hosts/`` gives a subscriber the full instance list — one round trip per change,
like Dubbo's ZooKeeper registry. A record whose name would exceed :data:`MAX_NAME` bytes (large
metadata) gets a *reference* name ending in a digest of the record: readers fetch the record for it,
and any change of the record changes the digest, hence the name, hence notifies every subscriber.

A change of weight/enabled/healthy/metadata replaces the host znode (delete old name + create new
name + set the record, one transaction): subscribers see one children event carrying the new state.
"""

from __future__ import annotations

import functools
import hashlib
import json
from urllib.parse import parse_qsl, urlencode

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError, OperationTimeoutError, RolledBackError

from shipway.registry import paths

SEP = "!"
#: Longest host znode name carrying the instance itself; larger ones become references. Keeps a
#: ``get_children`` of a big service far below ZooKeeper's 1 MB packet limit (≈ 2000 instances).
MAX_NAME = 480

Key = tuple[str, str, str]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _head(iid: str) -> str:
    """``ip#port#cluster`` of an instanceId (group and service are the parent path already)."""
    return iid.rsplit("#", 1)[0]


def encode(inst: dict) -> str:
    """The host znode name of an instance record."""
    head = _head(inst["instanceId"])
    fields = {"w": _num(inst.get("weight", 1.0)), "h": int(bool(inst.get("healthy", True))),
              "e": int(bool(inst.get("enabled", True))), "x": int(bool(inst.get("ephemeral", True))),
              "s": inst.get("source", ""), "t": repr(inst["registeredAt"]) if "registeredAt" in inst else ""}
    if inst.get("metadata"):
        fields["m"] = json.dumps(inst["metadata"], separators=(",", ":"), sort_keys=True)
    name = f"{head}{SEP}{urlencode(fields)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(dump(inst, sort=True)).hexdigest()[:20]  # noqa: S324 - a change marker, not security
    return f"{head}{SEP}{SEP}{digest}"


def prefix(iid: str) -> str:
    """What every host znode name of ``iid`` starts with."""
    return _head(iid) + SEP


def is_reference(name: str) -> bool:
    """True for a name that only points at the record (read ``instances/<id>`` for the data)."""
    return SEP + SEP in name


def name_id(name: str, key: Key) -> str:
    """The instanceId of a host znode name under service ``key``."""
    return f"{name.split(SEP, 1)[0]}#{key[1]}@@{key[2]}"


def decode(name: str, key: Key) -> dict | None:
    """The instance record carried by a host znode name of service ``key``; None for a reference name
    or a foreign one."""
    inst = _decode(name, key)
    if inst is None:
        return None
    # A fresh copy: callers may change the record they get; the memo must not change with it.
    return {**inst, "metadata": dict(inst["metadata"])}


# Names never change meaning, and a service's children are decoded again after each change of the
# service (the caches reload them whole): remembering the decoded names makes that reload cheap.
@functools.lru_cache(maxsize=32768)
def _decode(name: str, key: Key) -> dict | None:
    head, sep, payload = name.partition(SEP)
    if not sep or not payload or payload.startswith(SEP):
        return None
    try:
        ip, port, cluster = head.split("#")
        f = dict(parse_qsl(payload, keep_blank_values=True))
        inst = {"instanceId": f"{head}#{key[1]}@@{key[2]}", "ip": ip, "port": int(port),
                "weight": float(f.get("w", 1)), "healthy": f.get("h") == "1", "enabled": f.get("e") == "1",
                "ephemeral": f.get("x") == "1", "clusterName": cluster, "serviceName": key[2],
                "groupName": key[1], "namespaceId": key[0],
                "metadata": json.loads(f["m"]) if "m" in f else {}, "source": f.get("s", "")}
        if f.get("t"):
            inst["registeredAt"] = float(f["t"])
        return inst
    except (ValueError, KeyError):
        return None


def dump(value: dict, sort: bool = False) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort).encode()


def load(data: bytes | None) -> dict:
    if not data:
        return {}
    try:
        value = json.loads(data)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def commit(txn) -> None:
    """Commit a kazoo transaction; raise the operation's own error (not RolledBackError) on failure."""
    results = txn.commit()
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        real = [e for e in errors if not isinstance(e, RolledBackError)]
        raise (real or errors)[0]


def create(zk: KazooClient, key: Key, inst: dict, *, ephemeral: bool) -> str:
    """Create the record and its host znode in one transaction; returns the host name.

    Raises NodeExistsError when the record exists. Creates the parents on first use.
    """
    name = encode(inst)
    for attempt in (1, 2):
        txn = zk.transaction()
        txn.create(paths.instance(*key, inst["instanceId"]), dump(inst), ephemeral=ephemeral)
        txn.create(paths.host(*key, name), b"", ephemeral=ephemeral)
        try:
            commit(txn)
            return name
        except NoNodeError:  # a parent is missing (the service's first instance)
            if attempt == 2:
                raise
            zk.ensure_path(paths.instances(*key))
            zk.ensure_path(paths.hosts(*key))
    return name


def host_names(zk: KazooClient, key: Key, iid: str) -> list[str]:
    """Every host znode name of ``iid`` (normally one)."""
    try:
        names = zk.get_children(paths.hosts(*key))
    except NoNodeError:
        return []
    p = prefix(iid)
    return [n for n in names if n.startswith(p)]


def read(zk: KazooClient, key: Key, iid: str):
    """``(record, stat, host names)`` in one round trip (pipelined); NoNodeError if the record is absent."""
    rec_async = zk.get_async(paths.instance(*key, iid))
    kids_async = zk.get_children_async(paths.hosts(*key))
    try:
        data, stat = rec_async.get(timeout=10)
        try:
            names = kids_async.get(timeout=10)
        except NoNodeError:
            names = []
    except zk.handler.timeout_exception:
        raise OperationTimeoutError(f"no answer from ZooKeeper for {iid}") from None
    p = prefix(iid)
    return load(data), stat, [n for n in names if n.startswith(p)]


def replace(zk: KazooClient, key: Key, new: dict, *, version: int, old_names: list[str], ephemeral: bool) -> str:
    """Set the record (compare-and-set on ``version``) and swap its host znode, in one transaction.

    Raises BadVersionError when the record changed meanwhile, NoNodeError when it (or an old name) is gone.
    """
    name = encode(new)
    txn = zk.transaction()
    txn.set_data(paths.instance(*key, new["instanceId"]), dump(new), version=version)
    for old in old_names:
        if old != name:
            txn.delete(paths.host(*key, old))
    if name not in old_names:
        txn.create(paths.host(*key, name), b"", ephemeral=ephemeral)
    commit(txn)
    return name


def remove(zk: KazooClient, key: Key, iid: str, *, version: int = -1, names: list[str] | None = None) -> None:
    """Delete the record and its host znodes in one transaction (NoNodeError if the record is gone)."""
    if names is None:
        names = host_names(zk, key, iid)
    txn = zk.transaction()
    txn.delete(paths.instance(*key, iid), version=version)
    for n in names:
        txn.delete(paths.host(*key, n))
    commit(txn)

