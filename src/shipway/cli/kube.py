"""CLI commands of one part (added to the ``shipway`` group by cli/commands.py)."""

from __future__ import annotations

#: click commands or groups this module contributes.
commands: list = []
