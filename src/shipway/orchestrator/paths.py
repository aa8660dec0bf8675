"""The orchestrator's ZooKeeper subtree (built on :data:`shipway.core.zkpaths.ORCHESTRATOR`).

::

    /shipway/orchestrator
      /objects/<resource>/<namespace>/<name>   one Kubernetes object as JSON (cluster-scoped: namespace "_")
      /leader                                  leader election of the controllers
      /ports/<port>                            host ports handed out to Services (ClusterIP-like)
"""

from __future__ import annotations

from shipway.core import zkpaths

OBJECTS = f"{zkpaths.ORCHESTRATOR}/objects"
LEADER = zkpaths.leader("orchestrator-controllers")
CLUSTER_NS = "_"


def resource_dir(resource: str) -> str:
    return OBJECTS + "/" + zkpaths.join(resource)


def namespace_dir(resource: str, namespace: str | None) -> str:
    return OBJECTS + "/" + zkpaths.join(resource, namespace or CLUSTER_NS)


def object_path(resource: str, namespace: str | None, name: str) -> str:
    return OBJECTS + "/" + zkpaths.join(resource, namespace or CLUSTER_NS, name)
