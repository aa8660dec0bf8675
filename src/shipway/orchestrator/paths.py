"""The orchestrator's ZooKeeper subtree (built on :data:`shipway.core.zkpaths.ORCHESTRATOR`).

::

    /shipway/orchestrator
      /objects/<resource>/<namespace>/<name>   one Kubernetes object as JSON (cluster-scoped: namespace "_")
      /cluster-id                              this installation's id (labels its Docker containers)
      /nodes/<node>                            lock: one active node agent per node
    /shipway/leader/orchestrator-controllers   leader election of the controllers

Service ports are not kept in a subtree of their own: each Service records its 127.0.0.1 ports
in ``spec.ports[].nodePort`` and allocation checks the other Services.
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
