"""Entry point of the ``shipway`` command.

``shipway serve`` runs on gevent, whose monkey-patching must happen before
threading, socket, ssl or subprocess are imported anywhere; so this module
patches first when the command is ``serve`` and imports the rest afterwards.
"""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        from gevent import monkey

        monkey.patch_all()
    from shipway.cli.commands import cli

    cli(prog_name="shipway")
