"""Namespaces (Nacos "tenants"): CRUD and the per-namespace write role.

``public`` always exists. Every other namespace may require a stronger role than ``developer`` to change
its configs (``writeRole: admin`` for, say, ``prod``); the HTTP faces check it with
:meth:`NamespaceOps.write_role` on every write.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import func, select

from shipway.config_center import validate
from shipway.config_center.models import ConfigItem, ConfigNamespace
from shipway.core.errors import BadRequest, Conflict, NotFound

WRITE_ROLES = ("developer", "admin")
_CACHE_TTL = 5.0  # seconds a namespace's write role is cached (other servers see a change within this)


def check_write_role(role: Any) -> str:
    if role not in WRITE_ROLES:
        raise BadRequest(f"writeRole must be one of {', '.join(WRITE_ROLES)}", field="writeRole")
    return role


class NamespaceOps:
    """Namespace operations mixed into :class:`shipway.config_center.service.ConfigService`."""

    store: Any
    _roles: dict[str, tuple[float, str]]
    _roles_lock: threading.Lock

    def namespaces(self) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = {r.name: r for r in s.scalars(select(ConfigNamespace)).all()}
            counts = dict(s.execute(select(ConfigItem.namespace, func.count()).group_by(ConfigItem.namespace)).all())
        out = [{"namespace": validate.DEFAULT_NAMESPACE, "name": "public", "desc": "default namespace",
                "writeRole": "developer", "configCount": counts.get(validate.DEFAULT_NAMESPACE, 0)}]
        for name in sorted(rows):
            r = rows[name]
            out.append({"namespace": name, "name": r.display_name or name, "desc": r.description,
                        "writeRole": r.write_role or "developer", "configCount": counts.get(name, 0)})
        return out

    def create_namespace(self, name: str, display_name: str = "", desc: str = "",
                         write_role: str = "developer") -> dict[str, Any]:
        name = validate.check_name(name, "namespace")
        write_role = check_write_role(write_role or "developer")
        with self.store.session() as s:
            if name == validate.DEFAULT_NAMESPACE or s.get(ConfigNamespace, name) is not None:
                raise Conflict(f"namespace {name!r} already exists")
            s.add(ConfigNamespace(name=name, display_name=str(display_name or name)[:256], description=str(desc),
                                  write_role=write_role))
        self._forget_role(name)
        return {"namespace": name, "name": display_name or name, "desc": desc, "writeRole": write_role,
                "configCount": 0}

    def update_namespace(self, name: str, display_name: str | None = None, desc: str | None = None,
                         write_role: str | None = None) -> None:
        with self.store.session() as s:
            row = s.get(ConfigNamespace, validate.check_name(name, "namespace"))
            if row is None:
                raise NotFound(f"no namespace {name!r}")
            if display_name is not None:
                row.display_name = str(display_name)[:256]
            if desc is not None:
                row.description = str(desc)
            if write_role is not None:
                row.write_role = check_write_role(write_role)
        self._forget_role(name)

    def delete_namespace(self, name: str) -> None:
        """Delete an empty namespace (409 while it still holds configs; ``public`` cannot be deleted)."""
        name = validate.check_name(name, "namespace")
        if name == validate.DEFAULT_NAMESPACE:
            raise BadRequest("the public namespace cannot be deleted", field="namespace")
        with self.store.session() as s:
            row = s.get(ConfigNamespace, name)
            if row is None:
                raise NotFound(f"no namespace {name!r}")
            n = s.scalar(select(func.count()).select_from(ConfigItem).where(ConfigItem.namespace == name))
            if n:
                raise Conflict(f"namespace {name!r} still holds {n} config(s); delete them first")
            s.delete(row)
        self._forget_role(name)

    def write_role(self, namespace: str) -> str:
        """The role needed to change configs in ``namespace`` (``developer`` unless the namespace says more)."""
        now = time.monotonic()
        with self._roles_lock:
            hit = self._roles.get(namespace)
            if hit and hit[0] > now:
                return hit[1]
        with self.store.session() as s:
            row = s.get(ConfigNamespace, namespace)
            role = (row.write_role if row is not None else None) or "developer"
        with self._roles_lock:
            self._roles[namespace] = (now + _CACHE_TTL, role)
        return role

    def _forget_role(self, namespace: str) -> None:
        with self._roles_lock:
            self._roles.pop(namespace, None)
