"""``shipway serve``: start local services, connect, build the app, serve until stopped."""

from __future__ import annotations

import errno
import logging
import signal
import sys

import click

from shipway.core import logs
from shipway.core.context import Context
from shipway.core.errors import ShipwayError
from shipway.core.settings import Settings

log = logging.getLogger("shipway")


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


def run(settings: Settings) -> None:
    """Run shipway in the foreground until SIGINT/SIGTERM; clean up everything it started."""
    import gevent

    from shipway.core.checkpoint import WalCheckpointer
    from shipway.server.app import create_app
    from shipway.server.wsgi import make_server

    logs.configure(settings.log_level, settings.log_format)
    ctx = Context.from_settings(settings)
    try:
        try:
            server_sock_check(settings)
            ctx.start_local_services()
            ctx.connect()
            app = create_app(ctx)
            password = ctx.users.ensure_admin()
            server = make_server(app, settings.host, settings.port)
        except ShipwayError as e:
            _fail(e.message)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                _fail(f"port {settings.port} on {settings.host} is already in use; "
                      "set SHIPWAY_PORT (or --port) to a free port")
            raise
        ctx.add_component(WalCheckpointer(ctx.store))
        ctx.start_components()
        stopping = gevent.event.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(sig, stopping.set)
        server.start()
        url = settings.base_url
        click.secho(f"shipway {url}  (data: {settings.data_path})", fg="green", bold=True)
        if password:
            click.secho(f"first start: created user 'admin' with password  {password}", fg="yellow", bold=True)
            click.echo("  (shown only now; change it with `shipway user passwd admin`)")
        click.echo(f"  ZooKeeper {ctx.zk_hosts}{' (local)' if ctx.local_zk else ''}, "
                   f"registry {ctx.registry_address}{' (local)' if ctx.local_registry else ''}; Ctrl-C stops")
        stopping.wait()
        click.echo("stopping shipway…", err=True)
        server.stop(timeout=5)
    finally:
        ctx.close()


def server_sock_check(settings: Settings) -> None:
    """Fail fast, before starting ZooKeeper, when the HTTP port is taken."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((settings.host, settings.port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                _fail(f"port {settings.port} on {settings.host} is already in use; "
                      "set SHIPWAY_PORT (or --port) to a free port")
            if e.errno == errno.EADDRNOTAVAIL:
                _fail(f"cannot listen on {settings.host}: no such local address (check SHIPWAY_HOST)")
            raise
