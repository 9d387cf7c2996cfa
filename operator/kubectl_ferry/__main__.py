"""`python -m kubectl_ferry`: the same as the `kubectl-ferry` executable."""

from kubectl_ferry import cli

raise SystemExit(cli.main())
