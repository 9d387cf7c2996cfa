"""Entry point for ``python -m localkube``."""

from localkube import cli

raise SystemExit(cli.main())
