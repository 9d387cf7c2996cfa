"""Ferry's operator: turns StorageNode/StorageCluster `spec.state` into cluster-map updates and global rebalance.

Run it as ``kopf run -m storage_operator``. Importing the package registers the kopf handlers; the layers are
``handlers`` (kopf glue) > ``reconciling`` (I/O orchestration) > ``kube`` / ``nodes`` (the two narrow clients) >
pure modules (``states``, ``lifecycle``, ``maps``, ``builders``, ``statuses``, ``conditions``, ``progress``)
which do no I/O.
"""

from storage_operator import handlers as handlers
