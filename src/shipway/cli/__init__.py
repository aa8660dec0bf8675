"""The ``shipway`` command. Kept import-free so ``shipway serve`` can monkey-patch first."""
