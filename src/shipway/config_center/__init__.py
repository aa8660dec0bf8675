"""The config center: server (publish, versions, history, rollback, gray release, audit; native REST and Nacos v1
config API) and the client SDK :class:`ConfigClient`."""

from shipway.config_center.client import ConfigClient
from shipway.config_center.value import ConfigValue

__all__ = ["ConfigClient", "ConfigValue"]
