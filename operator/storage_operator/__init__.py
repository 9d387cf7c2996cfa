"""Ferry's operator: turns StorageNode/StorageCluster `spec.state` into cluster-map updates and global rebalance.

Run it as ``kopf run -m storage_operator``; importing the package registers the kopf handlers.

One pass, top-down (each layer imports only the layers below it)::

    handlers        kopf glue: every event wakes the cluster's one loop
    reconciling     one pass: observe once -> fold the steps' outcomes -> report once -> pace
    clusterwide | membership | reporting
                    the steps: cluster-wide states | owned objects, map, rebalance, the one transition
                    | the one status write (and the rebalance long polls live in `watching`)
    kube | watching | events | metrics
                    Kubernetes reads/writes | long polls on the nodes | Kubernetes events | Prometheus
    nodes           the storage nodes' admin API (the node's own `client`, with a token from `auth`)
    passes          the frozen pass and the outcome of a step (pure, as is everything below)
    statuses | records
                    what users read (phases, conditions) | the persisted statuses as frozen values
    lifecycle | conditions | maps | progress | builders | bodies | concurrency | essence
    clock | states

Pure modules do no I/O. The operator imports only the node's wire contract (``storage_node.schemas``,
``.client``, ``.auth``); the node never imports the operator. The contracts that keep this picture true are
``[tool.importlinter]`` in ``pyproject.toml``, checked by ``make lint``: change both together.
"""

from storage_operator import handlers as handlers
