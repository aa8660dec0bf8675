"""Allow ``python -m shipway``."""

from shipway.cli.main import main

main()
