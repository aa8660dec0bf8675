"""Reading a kubeconfig for the deploy stage: which server, which credentials, which CA.

The kubeconfig text comes from a project secret (``kubeconfig: {from_secret: NAME}``), never from a
path on the shipway host: a pipeline pushed to a repository must not be able to borrow the server's
own cluster credentials. For the same reason the document must embed its certificates
(``*-data``) rather than name files, and credential plugins (``exec``, ``auth-provider``) are refused:
they would run programs on the server.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class KubeError(Exception):
    """The Kubernetes API refused something, a rollout failed, or a kubeconfig cannot be used."""


@dataclass
class Target:
    """Where and how to talk to a cluster. ``files`` are temporary copies of embedded certificates."""

    server: str
    token: str | None
    verify: Any  # True, False or the path of the CA bundle (requests' ``verify``)
    cert: tuple[str, str] | None
    files: list[str] = field(default_factory=list)


def resolve(text: str, context: str | None = None, *, origin: str = "kubeconfig") -> Target:
    """The :class:`Target` of ``context`` (default: current-context) in the kubeconfig ``text``.

    ``origin`` names where the text came from, in errors (for example ``project secret CLUSTER``).
    """
    try:
        cfg = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise KubeError(f"{origin} is not valid YAML: {e}") from None
    if not isinstance(cfg, dict):
        raise KubeError(f"{origin} is not a kubeconfig (a YAML mapping)")
    name = context or cfg.get("current-context")
    ctx = _named(cfg, "contexts", "context", name)
    if ctx is None:
        raise KubeError(f"no context '{name}' in {origin}")
    cluster = _named(cfg, "clusters", "cluster", ctx.get("cluster")) or {}
    user = _named(cfg, "users", "user", ctx.get("user")) or {}
    if not cluster.get("server"):
        raise KubeError(f"context '{name}' of {origin} names no cluster with a server URL")
    for plugin in ("exec", "auth-provider", "tokenFile"):
        if user.get(plugin):
            raise KubeError(f"{origin}: user.{plugin} is not supported; use a token or a client certificate")
    for owner, key in ((cluster, "certificate-authority"), (user, "client-certificate"), (user, "client-key")):
        if owner.get(key) and not owner.get(key + "-data"):
            raise KubeError(f"{origin}: {key} names a file; embed it as {key}-data")
    files: list[str] = []

    def materialise(data_b64: str | None, key: str) -> str | None:
        if not data_b64:
            return None
        try:
            data = base64.b64decode(data_b64, validate=True)
        except ValueError:
            raise KubeError(f"{origin}: {key} is not valid base64") from None
        f = tempfile.NamedTemporaryFile(prefix="shipway-kube-", delete=False)
        f.write(data)
        f.close()
        files.append(f.name)
        return f.name

    try:
        verify: Any = False if cluster.get("insecure-skip-tls-verify") else \
            materialise(cluster.get("certificate-authority-data"), "certificate-authority-data") or True
        cert_file = materialise(user.get("client-certificate-data"), "client-certificate-data")
        key_file = materialise(user.get("client-key-data"), "client-key-data")
    except KubeError:
        for written in files:  # what was written before the bad field
            Path(written).unlink(missing_ok=True)
        raise
    return Target(cluster["server"], user.get("token"), verify,
                  (cert_file, key_file) if cert_file and key_file else None, files)


def _named(cfg: dict, section: str, inner: str, name: str | None) -> dict | None:
    """The ``inner`` mapping of the entry called ``name`` in ``cfg[section]``."""
    for entry in cfg.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(inner)
            return value if isinstance(value, dict) else {}
    return None
