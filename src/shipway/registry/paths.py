"""The naming subtree in ZooKeeper (under :data:`shipway.core.zkpaths.NAMING`)::

    /shipway/naming/<namespace>/<group>/<service>          service record (JSON: protectThreshold, metadata)
        /instances/<instanceId>                             instance record (JSON); EPHEMERAL when SDK-registered
        /hosts/<qid>!<fields>                               the instance in the NAME (see registry.layout);
                                                            same lifetime as the record, written with it
        /beats/<instanceId>                                 last heartbeat (epoch seconds) of HTTP-ephemeral ones
    /shipway/leader/naming-health                           EPHEMERAL: the server running the health timers

Namespaces and groups are plain parents created on first use.
"""

from __future__ import annotations

from shipway.core import zkpaths
from shipway.core.zkpaths import join

ROOT = zkpaths.NAMING
LEADER = zkpaths.leader("naming-health")


def namespace(ns: str) -> str:
    return ROOT + "/" + join(ns)


def group(ns: str, grp: str) -> str:
    return ROOT + "/" + join(ns, grp)


def service(ns: str, grp: str, svc: str) -> str:
    return ROOT + "/" + join(ns, grp, svc)


def instances(ns: str, grp: str, svc: str) -> str:
    return ROOT + "/" + join(ns, grp, svc, "instances")


def instance(ns: str, grp: str, svc: str, iid: str) -> str:
    return ROOT + "/" + join(ns, grp, svc, "instances", iid)


def hosts(ns: str, grp: str, svc: str) -> str:
    return ROOT + "/" + join(ns, grp, svc, "hosts")


def host(ns: str, grp: str, svc: str, name: str) -> str:
    return ROOT + "/" + join(ns, grp, svc, "hosts", name)


def beats(ns: str, grp: str, svc: str) -> str:
    return ROOT + "/" + join(ns, grp, svc, "beats")


def beat(ns: str, grp: str, svc: str, iid: str) -> str:
    return ROOT + "/" + join(ns, grp, svc, "beats", iid)
