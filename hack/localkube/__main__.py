"""Entry point for ``python -m localkube``."""

from localkube.cli import main

raise SystemExit(main())
