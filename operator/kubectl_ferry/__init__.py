"""`kubectl ferry`: a kubectl plugin that shows Ferry clusters, their nodes and rebalances from the resources alone.

It reads StorageCluster and StorageNode objects with the user's own kubeconfig (``kubectl get -o json``) and
nothing else: no node API, no operator. Layers, top-down (each imports only those below it)::

    cli        arguments, the commands, --watch, exit codes
    reading    the one I/O: kubectl as a subprocess, its failures as clear errors
    tables     the views as text (aligned columns, sizes, durations)
    views      the resources as frozen rows, progress and ETA (pure)

The ``kubectl-ferry-*`` contracts in ``pyproject.toml`` keep this picture and keep the operator and the node out.
"""
