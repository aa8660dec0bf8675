"""Settings: one object filled from flags > ``SHIPWAY_*`` env vars > a TOML file > defaults.

Every setting is declared once in :data:`FIELDS` with its type, default, help
text and whether it is a secret. :func:`load_settings` merges the four sources
and validates every value, naming where a bad one came from (the flag, the env
var, or the settings file and line).

The settings file is ``--config`` / ``SHIPWAY_CONFIG``, else
``<data_dir>/shipway.toml`` when it exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping

from shipway.core.errors import ConfigurationError

ENV_PREFIX = "SHIPWAY_"


@dataclasses.dataclass(frozen=True)
class Field:
    """One declared setting."""

    name: str
    type: type
    default: Any
    help: str
    secret: bool = False
    check: Callable[[Any], str | None] | None = None  # returns an error message or None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else "must be a port number between 0 and 65535"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _log_level(v: str) -> str | None:
    ok = {"debug", "info", "warning", "error"}
    return None if v.lower() in ok else f"must be one of {', '.join(sorted(ok))}"


def _log_format(v: str) -> str | None:
    return None if v in ("text", "json") else "must be 'text' or 'json'"


FIELDS: tuple[Field, ...] = (
    Field("host", str, "127.0.0.1", "Address the HTTP server listens on."),
    Field("port", int, 8470, "Port the HTTP server listens on.", check=_port),
    Field("data_dir", str, ".shipway", "Directory for the SQLite store, local ZooKeeper and registry data, logs."),
    Field("public_url", str, "", "URL users and webhooks reach shipway at (default http://host:port)."),
    Field("zk", str, "", "External ZooKeeper connect string (host:port[,host:port][/chroot]); empty runs a local one."),
    Field("zk_port", int, 0, "Port of the supervised local ZooKeeper (0 picks a free one).", check=_port),
    Field("zk_session_timeout", float, 6.0, "ZooKeeper session timeout of the server, in seconds.", check=_positive),
    Field("db", str, "", "SQLAlchemy database URL (e.g. postgresql+psycopg://...); empty uses SQLite in the data dir.",
          secret=True),
    Field("registry", str, "", "External image registry host:port; empty runs a local one."),
    Field("registry_port", int, 0, "Port of the supervised local registry (0 picks a free one).", check=_port),
    Field("docker_host", str, "", "Docker Engine URL; empty uses DOCKER_HOST or the default socket."),
    Field("secret_key", str, "", "Key signing session cookies; empty generates one kept in the data dir.", secret=True),
    Field("log_level", str, "info", "Log level: debug, info, warning, error.", check=_log_level),
    Field("log_format", str, "text", "Log format: text or json.", check=_log_format),
    Field("zookeeper_jar", str, "/usr/share/java/zookeeper.jar", "The ZooKeeper server jar (Debian: package zookeeper)."),
    Field("registry_binary", str, "/usr/bin/docker-registry", "The Distribution registry binary."),
)

FIELDS_BY_NAME = {f.name: f for f in FIELDS}


@dataclasses.dataclass
class Settings:
    """The effective settings. Build with :func:`load_settings`."""

    host: str = "127.0.0.1"
    port: int = 8470
    data_dir: str = ".shipway"
    public_url: str = ""
    zk: str = ""
    zk_port: int = 0
    zk_session_timeout: float = 6.0
    db: str = ""
    registry: str = ""
    registry_port: int = 0
    docker_host: str = ""
    secret_key: str = ""
    log_level: str = "info"
    log_format: str = "text"
    zookeeper_jar: str = "/usr/share/java/zookeeper.jar"
    registry_binary: str = "/usr/bin/docker-registry"
    sources: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> where its value came from

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.data_path / 'shipway.db'}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def redacted(self) -> dict[str, Any]:
        """Every setting with secrets replaced by ``***`` (URL passwords too)."""
        out: dict[str, Any] = {}
        for f in FIELDS:
            value = getattr(self, f.name)
            if f.secret and value:
                value = _redact_url(value) if "://" in str(value) else "***"
            out[f.name] = value
        return out


def _redact_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host`` but keep the rest readable."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


def _coerce(field: Field, raw: Any, source: str) -> Any:
    """Convert ``raw`` (a string from env/flags or a TOML value) to the field's type."""
    try:
        if field.type is bool:
            if isinstance(raw, bool):
                value = raw
            elif str(raw).lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).lower() in ("0", "false", "no", "off", ""):
                value = False
            else:
                raise ValueError(raw)
        elif field.type is int:
            if isinstance(raw, bool) or isinstance(raw, float):
                raise ValueError(raw)
            value = int(raw)
        elif field.type is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = float(raw)
        else:
            if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
                raise ValueError(raw)
            value = str(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"expected {field.type.__name__} for '{field.name}', got {raw!r}",
                                 source=source) from None
    problem = field.check(value) if field.check else None
    if problem:
        raise ConfigurationError(f"'{field.name}' {problem} (got {raw!r})", source=source)
    return value


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def read_settings_file(path: Path) -> dict[str, tuple[Any, str]]:
    """Parse a TOML settings file into ``{name: (value, "file:line")}``.

    Keys may sit at the top level or under a ``[shipway]`` table. A syntax
    error or an unknown key raises :class:`ConfigurationError` naming the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"cannot read settings file: {e.strerror}", source=str(path)) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"invalid TOML: {e}", source=str(path)) from e
    if isinstance(data.get("shipway"), dict):
        data = {**{k: v for k, v in data.items() if k != "shipway"}, **data["shipway"]}
    out: dict[str, tuple[Any, str]] = {}
    for key, value in data.items():
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        if key not in FIELDS_BY_NAME:
            raise ConfigurationError(f"unknown setting '{key}' (known: {', '.join(FIELDS_BY_NAME)})",
                                     source=where)
        out[key] = (value, where)
    return out


def load_settings(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                  config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Build the effective :class:`Settings`.

    ``flags`` holds values given on the command line (``None`` means not
    given); ``env`` defaults to ``os.environ``. Precedence: flags > env >
    settings file > defaults.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    # The data dir decides where the default settings file is, so resolve it first.
    data_dir = flags.get("data_dir") or env.get(ENV_PREFIX + "DATA_DIR") or FIELDS_BY_NAME["data_dir"].default
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    file_values: dict[str, tuple[Any, str]] = {}
    if path:
        file_values = read_settings_file(Path(path))
    elif (Path(data_dir) / "shipway.toml").is_file():
        file_values = read_settings_file(Path(data_dir) / "shipway.toml")

    for field in FIELDS:
        if field.name in flags:
            raw, source = flags[field.name], "--" + field.name.replace("_", "-")
        elif field.env in env:
            raw, source = env[field.env], field.env
        elif field.name in file_values:
            raw, source = file_values[field.name]
        else:
            values[field.name] = field.default
            sources[field.name] = "default"
            continue
        values[field.name] = _coerce(field, raw, source)
        sources[field.name] = source
    return Settings(**values, sources=sources)
