"""HTTP face of this part: ``register(app, ctx)`` adds its blueprints, components and health checks."""

from __future__ import annotations


def register(app, ctx) -> None:
    """Add this part to the app (nothing yet)."""
