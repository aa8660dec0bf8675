"""Gray (beta) release: content seen only by some client IPs and/or labels; promote; stop.

Mixed into :class:`shipway.config_center.service.ConfigService`. The beta lives in its own znode
(:func:`shipway.config_center.paths.beta_path`); readers pick it when it matches the client
(:meth:`shipway.config_center.paths.Value.matches`).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from kazoo.exceptions import NoNodeError

from shipway.config_center import validate
from shipway.config_center.paths import Value, beta_path, config_path, md5_of
from shipway.core.errors import BadRequest, NotFound, Unavailable


def _zk_errors():
    from shipway.config_center.service import zk_errors
    return zk_errors()


class BetaOps:
    """Gray-release operations (needs ``key``, ``read``, ``zk``, ``publish``, ``to_dict``, ``_audit``)."""

    def beta_publish(self, namespace: str, group: str, data_id: str, content: str, *, ips: Any = None,
                     labels: dict[str, str] | None = None, author: str, source_ip: str = "") -> dict[str, Any]:
        """Publish a beta content seen only by clients whose IP is in ``ips`` or whose labels match."""
        key = self.key(namespace, group, data_id)
        ip_list = _ip_list(ips)
        labels = labels or {}
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in labels.items()):
            raise BadRequest("labels must be an object of string values", field="labels")
        if not ip_list and not labels:
            raise BadRequest("a beta needs client IPs and/or labels", field="ips")
        current, _ = self.read(config_path(*key))
        if current is None:
            raise NotFound(f"config {'/'.join(key)} does not exist; publish it before a beta")
        validate.check_content(content, current.type)
        value = Value(content=content, md5=md5_of(content), version=current.version, type=current.type,
                      author=author, time=int(time.time() * 1000), ips=tuple(ip_list), labels=labels)
        zk = self.zk
        try:
            zk.retry(self._put, zk, beta_path(*key), value.encode())
        except _zk_errors() as e:
            raise Unavailable(f"ZooKeeper is not reachable: {e.__class__.__name__}") from e
        self._audit(key, "beta-publish", author, source_ip, current.version,
                    f"md5={value.md5} ips={','.join(ip_list)} labels={labels}")
        return self.to_dict(key, value, beta=True)

    def beta_get(self, namespace: str, group: str, data_id: str) -> dict[str, Any]:
        key = self.key(namespace, group, data_id)
        beta, _ = self.read(beta_path(*key))
        if beta is None:
            raise NotFound(f"config {'/'.join(key)} has no beta")
        return self.to_dict(key, beta, beta=True)

    def beta_stop(self, namespace: str, group: str, data_id: str, *, author: str, source_ip: str = "") -> None:
        key = self.key(namespace, group, data_id)
        zk = self.zk
        try:
            zk.retry(zk.delete, beta_path(*key))
        except NoNodeError:
            raise NotFound(f"config {'/'.join(key)} has no beta") from None
        except _zk_errors() as e:
            raise Unavailable(f"ZooKeeper is not reachable: {e.__class__.__name__}") from e
        self._audit(key, "beta-stop", author, source_ip, 0, "")

    def beta_promote(self, namespace: str, group: str, data_id: str, *, author: str,
                     source_ip: str = "") -> dict[str, Any]:
        """Publish the beta content to everyone (a new version), then remove the beta."""
        beta = self.beta_get(namespace, group, data_id)
        result = self.publish(namespace, group, data_id, beta["content"], beta["type"], author=author,
                              source_ip=source_ip, action="beta-promote")
        self.beta_stop(namespace, group, data_id, author=author, source_ip=source_ip)
        return result

    @staticmethod
    def _put(zk, path: str, data: bytes) -> None:
        try:
            zk.set(path, data)
        except NoNodeError:
            zk.create(path, data, makepath=True)



def _ip_list(ips: Any) -> list[str]:
    if ips is None or ips == "":
        return []
    if isinstance(ips, str):
        items = [i.strip() for i in ips.split(",") if i.strip()]
    elif isinstance(ips, list) and all(isinstance(i, str) for i in ips):
        items = [i.strip() for i in ips if i.strip()]
    else:
        raise BadRequest("ips must be a list or a comma-separated string", field="ips")
    for ip in items:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise BadRequest(f"invalid client IP {ip!r}", field="ips") from None
    return sorted(set(items))
