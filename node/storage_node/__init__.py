"""Ferry storage node: objects on mountpaths, HRW placement, cluster map, resumable global rebalance.

Run: ``python -m storage_node --node-id ID --listen HOST:PORT --mountpath DIR [--mountpath DIR ...]
--state-dir DIR [--auth-secret-file FILE] [--fsync/--no-fsync] [--rebalance-concurrency N]
[--rebalance-bandwidth BYTES_PER_S]``; every option also comes from ``FERRY_NODE_ID``, ``FERRY_LISTEN``,
``FERRY_MOUNTPATHS`` (comma/colon separated), ``FERRY_STATE_DIR``, ``FERRY_AUTH_SECRET`` (the secret)
or ``FERRY_AUTH_SECRET_FILE``, ``FERRY_FSYNC``, ``FERRY_REBALANCE_CONCURRENCY``,
``FERRY_REBALANCE_BANDWIDTH``. No secret: admin auth disabled (a warning is logged).

HTTP API (``schemas`` holds the bodies):

- data, open to all: ``PUT|GET|HEAD|DELETE /v1/objects/{bucket}/{name}`` (a GET takes one ``Range: bytes=``
  range: 206 with Content-Range, 416 past the end; several ranges get the whole object),
  ``GET /v1/buckets/{bucket}?prefix=&token=&limit=`` (cluster-wide, paginated),
  ``PUT|DELETE /v1/buckets/{bucket}`` (cluster-wide). Non-owners answer 307 to the proper node.
- admin, bearer JWT (HS256, ``auth.issue_token``) when a secret is set: ``PUT|GET /v1/admin/map``,
  ``GET /v1/admin/status``, ``GET /v1/admin/rebalance``, ``POST /v1/admin/rebalance/abort``,
  ``PUT /v1/admin/settings``, ``POST /v1/admin/cleanup``.
- intra-cluster (same token): ``/v1/internal/...``.
- health: ``GET /health/live``, ``GET /health/ready``, ``GET /metrics``.

Layers: pure modules (``hrw``, ``names``, ``maps``, ``schemas``, ``rebalance.planning``,
``rebalance.stages``, ``rebalance.bundles``) do no I/O; ``store``, ``statedir``, ``rebalance.engine``,
``rebalance.sending``, ``rebalance.receiving``, ``routes``, ``client`` do. The rebalancer sees the node
through ``rebalance.hosts`` and never imports it (an import-linter contract).
"""
