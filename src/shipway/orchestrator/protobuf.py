"""Decoding of the Kubernetes protobuf bodies kubectl's typed clients send.

``kubectl create namespace|configmap|secret`` post ``application/vnd.kubernetes.protobuf``
(the magic ``k8s\\0`` + a ``runtime.Unknown`` envelope). This decodes those three kinds
(field numbers from k8s.io/api/core/v1/generated.proto and apimachinery's ObjectMeta) into
the JSON form; other kinds get a 415 asking for JSON.
"""

from __future__ import annotations

import base64

MAGIC = b"k8s\x00"


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((num, val))
    return out


def _map(entries: list[bytes], binary: bool = False) -> dict:
    out = {}
    for e in entries:
        kv = dict(fields(e))
        v = kv.get(2, b"")
        out[kv.get(1, b"").decode()] = base64.b64encode(v).decode() if binary else v.decode()
    return out


def _meta(buf: bytes) -> dict:
    m: dict = {}
    labels, annotations = [], []
    for num, val in fields(buf):
        if num in (1, 2, 3) and isinstance(val, bytes):
            m[{1: "name", 2: "generateName", 3: "namespace"}[num]] = val.decode()
        elif num == 11:
            labels.append(val)
        elif num == 12:
            annotations.append(val)
        elif num == 14:
            m.setdefault("finalizers", []).append(val.decode())
    if labels:
        m["labels"] = _map(labels)
    if annotations:
        m["annotations"] = _map(annotations)
    return m


def decode(body: bytes) -> dict:
    """The JSON form of a protobuf Namespace, ConfigMap or Secret; ValueError for anything else."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body")
    env = fields(body[len(MAGIC):])
    type_meta = dict(fields(next(v for n, v in env if n == 1)))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    raw = next((v for n, v in env if n == 2), b"")
    obj: dict = {"apiVersion": api_version, "kind": kind}
    groups: dict[int, list] = {}
    for num, val in fields(raw):
        groups.setdefault(num, []).append(val)
    if 1 in groups:
        obj["metadata"] = _meta(groups[1][0])
    if kind == "Namespace":
        spec = [v.decode() for n, v in fields(groups[2][0])] if 2 in groups else []
        if spec:
            obj["spec"] = {"finalizers": spec}
    elif kind == "ConfigMap":
        if 2 in groups:
            obj["data"] = _map(groups[2])
        if 3 in groups:
            obj["binaryData"] = _map(groups[3], binary=True)
        if 4 in groups:
            obj["immutable"] = bool(groups[4][0])
    elif kind == "Secret":
        if 2 in groups:
            obj["data"] = _map(groups[2], binary=True)
        if 3 in groups:
            obj["type"] = groups[3][0].decode()
        if 4 in groups:
            obj["stringData"] = _map(groups[4])
        if 5 in groups:
            obj["immutable"] = bool(groups[5][0])
    else:
        raise ValueError(f"protobuf bodies of kind {kind or '?'} are not supported: send JSON")
    return obj
