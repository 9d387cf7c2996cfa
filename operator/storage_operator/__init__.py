"""Ferry's operator: turns StorageNode/StorageCluster `spec.state` into cluster-map updates and global rebalance.

Run it as ``kopf run -m storage_operator``; importing the package registers the kopf handlers (``handlers.on``).

Packages by role, top-down; each imports only the packages below it (``docs/architecture.md`` draws them)::

    handlers     kopf glue: every event wakes the cluster's one loop; login, settings, finalizers (``on``,
                 ``diffbase``)
    reconciler   one pass: observe once -> fold the steps' outcomes -> report once -> pace (``reconciling``)
    steps        the I/O of a pass, each returning an ``Outcome``: ``resources`` (owned objects), ``publishing``
                 (the map: recorded, then pushed), ``progress`` (rebalance tracking), ``lifecycle`` (the one
                 transition), ``rollouts`` (the rolling upgrade), ``budgets``, ``clusterwide`` (shutdown,
                 decommission, deletion), ``statuses`` (the one status write)
    clients      the narrow clients: ``protocols`` (``Kube`` and ``Fleet``, all that steps and the reconciler see),
                 ``kube`` (``LightKube``: Kubernetes), ``nodes`` (``HttpFleet``: the storage nodes' admin API, a
                 token from ``storage_node.auth``), ``watching`` (long polls), ``events``, ``metrics``,
                 ``concurrency``
    plan         pure decisions: ``passes`` (the frozen pass and a step's outcome), ``lifecycle``, ``rollouts``,
                 ``budgets``, ``capacity``, ``progress``, ``phases`` (what users read), ``conditions``
    resources    pure builders, one kind per module: ``pods``, ``claims``, ``services``, ``secrets``,
                 ``disruption_budgets``; ``meta`` (API group, labels, owner references)
    model        pure values: ``states``, ``specs`` and ``statuses`` (the custom resources' specs and persisted
                 statuses, parsed once into frozen pydantic models on ``camel``), ``bodies`` (the rest of a raw
                 body), ``maps``, ``clock`` (``Clock``: where a pass reads the time), ``revisions``

A planner and the step that carries it out share a name: ``plan.lifecycle`` / ``steps.lifecycle``,
``plan.rollouts`` / ``steps.rollouts``, ``plan.progress`` / ``steps.progress``, ``plan.budgets`` /
``steps.budgets``; ``model.statuses`` is what ``steps.statuses`` writes, ``model.maps`` what ``steps.publishing``
publishes. ``plan``, ``resources`` and ``model`` are pure computation (the ``operator-pure`` contract keeps
Kubernetes, kopf, HTTP and the node client out of them). The operator imports only the node's wire contract
(``storage_node.schemas``, ``.client``, ``.auth``); the node never imports the operator. The contracts that keep
this picture true are ``[tool.importlinter]`` in ``pyproject.toml``, checked by ``make lint``: change both
together.
"""

from storage_operator import handlers as handlers
