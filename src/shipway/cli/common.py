"""Shared CLI plumbing: settings options, error reporting, the API client."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import click

from shipway.core.errors import ShipwayError


def settings_options(fn: Callable) -> Callable:
    """Add the settings flags every server-side command accepts."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="Settings file (TOML). Default: <data-dir>/shipway.toml if present."),
        click.option("--data-dir", help="Data directory [env SHIPWAY_DATA_DIR; default .shipway]."),
        click.option("--db", help="SQLAlchemy URL of the store [env SHIPWAY_DB; default SQLite in the data dir]."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def load(flags: dict[str, Any], config_file: str | None = None):
    """Effective settings from flags, env, file and defaults (errors become usage errors)."""
    from shipway.core.settings import load_settings
    try:
        return load_settings(flags, config_file=config_file)
    except ShipwayError as e:
        raise click.UsageError(e.message) from None


def reports_errors(fn: Callable) -> Callable:
    """Turn a :class:`ShipwayError` into one red line and exit status 1, not a traceback."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShipwayError as e:
            click.secho(f"error: {e.message}", fg="red", err=True)
            for err in e.details.get("errors", [])[:50] if isinstance(e.details.get("errors"), list) else []:
                where = ":".join(str(err[k]) for k in ("file", "line", "column") if err.get(k) is not None)
                path = err.get("path") or ""
                click.echo(f"  {where + ' ' if where else ''}{path + ': ' if path else ''}{err.get('message')}",
                           err=True)
            sys.exit(1)

    return inner


class ApiClient:
    """A small client of shipway's REST API for CLI commands.

    Server URL from ``--url`` / ``SHIPWAY_URL`` (default http://127.0.0.1:8470),
    token from ``--token`` / ``SHIPWAY_TOKEN``. Error bodies become
    :class:`ShipwayError` with the server's message.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        import requests

        self.url = (url or os.environ.get("SHIPWAY_URL") or "http://127.0.0.1:8470").rstrip("/")
        self.token = token or os.environ.get("SHIPWAY_TOKEN")
        self.timeout = timeout
        self.http = requests.Session()
        if self.token:
            self.http.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, **kw: Any):
        import requests

        kw.setdefault("timeout", self.timeout)
        try:
            resp = self.http.request(method, self.url + path, **kw)
        except requests.ConnectionError as e:
            raise ShipwayError(f"cannot reach shipway at {self.url}; is `shipway serve` running? "
                               "(set --url or SHIPWAY_URL)", status=503) from e
        if resp.status_code >= 400:
            try:
                body = resp.json()
                raise ShipwayError(body.get("message") or resp.text, details=body.get("details") or {},
                                   status=resp.status_code, code=body.get("error"))
            except ValueError:
                raise ShipwayError(f"{resp.status_code}: {resp.text[:300]}", status=resp.status_code) from None
        return resp

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any):
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)


def api_options(fn: Callable) -> Callable:
    """Add ``--url`` and ``--token`` and pass an :class:`ApiClient` as ``api``."""

    @click.option("--url", envvar="SHIPWAY_URL", help="shipway server URL [env SHIPWAY_URL].")
    @click.option("--token", envvar="SHIPWAY_TOKEN", help="API token [env SHIPWAY_TOKEN].")
    @functools.wraps(fn)
    def inner(*args: Any, url: str | None, token: str | None, **kwargs: Any) -> Any:
        return fn(*args, api=ApiClient(url, token), **kwargs)

    return inner
