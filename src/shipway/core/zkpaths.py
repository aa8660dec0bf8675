"""The ZooKeeper path layout: every znode path shipway uses is built here.

Each part owns one subtree under the root (``/shipway`` inside the configured
chroot). A part reaches another part through its API, never through these
paths. Keep znodes small: ZooKeeper refuses data over ~1 MB (``jute.maxbuffer``).

::

    /shipway
      /meta/schema                          layout version
      /leader/<component>                   leader-election recipes (registry timers, controllers, cron)
      /config/<ns>/<group>/<dataId>         current config value          (config_center)
      /config-beta/<ns>/<group>/<dataId>    gray (beta) release            (config_center)
      /naming/<ns>/<group>/<service>        service metadata               (registry)
        /instances/<instanceId>             instances (ephemeral for SDK)  (registry)
      /orchestrator/<resource>/<ns>/<name>  Kubernetes-style objects       (orchestrator)
      /pipelines/queue/run-<seq>            the run queue                  (pipelines)
      /pipelines/locks/<group>              concurrency groups             (pipelines)
"""

from __future__ import annotations

ROOT = "/shipway"
META = f"{ROOT}/meta"
LEADER = f"{ROOT}/leader"
CONFIG = f"{ROOT}/config"
CONFIG_BETA = f"{ROOT}/config-beta"
NAMING = f"{ROOT}/naming"
ORCHESTRATOR = f"{ROOT}/orchestrator"
PIPELINES = f"{ROOT}/pipelines"

#: Subtrees created at start so that watchers can be set on them at once.
ROOTS = (META, LEADER, CONFIG, CONFIG_BETA, NAMING, ORCHESTRATOR, PIPELINES)


def leader(component: str) -> str:
    """The election path of a component that must run on one server only."""
    return f"{LEADER}/{component}"


def join(*parts: str) -> str:
    """Join path segments, refusing segments that could escape their parent."""
    for p in parts:
        if not p or "/" in p or p in (".", ".."):
            raise ValueError(f"invalid ZooKeeper path segment {p!r}")
    return "/".join(parts)
