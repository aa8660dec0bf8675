"""shipway: from a git push to a running, discoverable, hot-configurable service.

The package is split into one subpackage per part (see docs/architecture.md):
``core`` (settings, errors, ZooKeeper, SQL store, auth, local services),
``server`` (the Flask application that composes the parts), ``webhook``,
``pipelines``, ``orchestrator``, ``registry``, ``discovery``,
``config_center``, ``web`` (the console) and ``cli`` (the ``shipway`` command).
"""

__version__ = "0.1.0"
