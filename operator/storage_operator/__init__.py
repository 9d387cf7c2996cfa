"""Ferry's operator: turns StorageNode/StorageCluster `spec.state` into cluster-map updates and global rebalance.

Run it as ``kopf run -m storage_operator``. Importing the package registers the kopf handlers. Layers:
``handlers`` (kopf glue) > ``reconciling`` (I/O orchestration, with ``clusterwide`` and ``reporting``)
> ``kube`` / ``nodes`` (the two narrow clients) > pure modules that do no I/O (``states``, ``lifecycle``,
``passes``, ``maps``, ``builders``, ``statuses``, ``conditions``, ``progress``).
"""

from storage_operator import handlers as handlers
