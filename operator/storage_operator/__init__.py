"""Ferry's operator: turns StorageNode/StorageCluster `spec.state` into cluster-map updates and global rebalance.

Run it as ``kopf run -m storage_operator``; importing the package registers the kopf handlers.

One pass, top-down (each layer imports only the layers below it)::

    handlers        kopf glue: every event wakes the cluster's one loop
    reconciling     one pass: observe once -> fold the steps' outcomes -> report once -> pace
    rolling         the rolling-upgrade step: one node's pod re-created at the spec's revision at a time
    clusterwide | membership | reporting | budgets
                    the steps of a pass: cluster-wide states (shutdown, decommission) | an online cluster's
                    steps (owned objects, map, rebalance tracking, the one transition) | the one status write
                    | the node pods' disruption budget
    kube | nodes | watching | events | metrics
                    the I/O: Kubernetes reads/writes | the storage nodes' admin API (the node's own `client`,
                    a token from `auth`) | long polls on the nodes | Kubernetes events | Prometheus
    passes          the frozen pass and the outcome of a step (no I/O here and below)
    rollouts        the rolling upgrade planned: which node next, its next step, stuck, paused
    statuses | records
                    what users read (phases, conditions) | the persisted statuses as frozen values
    lifecycle | conditions | maps | progress | builders | bodies | concurrency | essence
    clock | states | revisions

The pure modules are pure computation (the ``operator-pure`` contract keeps Kubernetes, kopf, HTTP and the
node client out of them); ``concurrency`` (asyncio) and ``essence`` (kopf's diff base) do no I/O either. The
operator imports only the node's wire contract (``storage_node.schemas``, ``.client``, ``.auth``); the node
never imports the operator. The contracts that keep this picture true are ``[tool.importlinter]`` in
``pyproject.toml``, checked by ``make lint``: change both together.
"""

from storage_operator import handlers as handlers
