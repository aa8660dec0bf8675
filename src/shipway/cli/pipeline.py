"""CLI commands of one part (added to the ``shipway`` group by cli/commands.py)."""

from __future__ import annotations

from shipway.cli.project import project  # owned by the webhook/projects engineer

#: click commands or groups this module contributes.
commands: list = [project]
