"""Global rebalance: move every object to its proper node after a cluster-map change.

Stages (forward only): idle -> init -> traverse -> fin -> done; or -> aborted (admin) / superseded
(a newer rebalance id cancels this one and starts over from init; the new one covers everything).

Invariants:
1. A sender removes its copy only after the receiver answered for that exact version: ``ok`` (installed,
   checksum verified), ``newer`` (it holds a newer object or tombstone) or ``gone`` (bucket destroyed or
   re-created after the copy was written). Until then both may hold it; never neither. A copy the receiver
   refuses (``bad``; ``nospace``: its mountpath is full, nothing of it stays there) remains with the sender,
   which offers it again on its next pass: the rebalance stalls visibly rather than finish without it.
2. A receiver installs a migrating copy only if it has neither an object nor a tombstone of an equal or
   newer version, and the bucket's current incarnation is older than the copy. The check and the install
   run without yielding to the event loop, so no client write can slip in between.
3. Client writes get a fresh version (hybrid wall clock) and always win; deletes leave tombstones on every
   node, so a stale migrating copy never replaces a newer write and a deleted object never comes back.
4. The marker (state dir) is written at every stage change and periodically; a restarted node with an
   unfinished marker for the installed map's rebalance id resumes. Traversal is idempotent (objects
   already moved are no longer local), so resuming is re-traversing.
5. ``done`` means a full traversal found nothing misplaced on this node; the global rebalance g<N> is
   complete when every reachable node of the map reports ``done`` for g<N>.
6. Flagged nodes (maintenance, decommission) are sources only: placement never picks them.
7. Clients never see the move (the data path, `routes/data.py`): until every node of the map is known to have
   finished its rebalance (`settling`), a read takes the newest of this node's and the other nodes' copies
   and tombstones, never its own alone; a sender remembers what it handed over, so a lookup that met the
   object on neither side of a hand-over looks again instead of answering 404; a node that cannot tell
   (a peer that may hold the object does not answer) answers 503 with Retry-After, never a wrong 404.
8. An acknowledged write is where the current map puts it: a write waits until the other nodes hold this
   node's map (a node routing by an older one could otherwise serve an older copy), and a write that
   landed on a node that stopped owning it while its body came in is handed over before it is answered.

Modules (the host behind an interface, as AIStore's ``reb`` sees its target):

- ``hosts``: what the rebalancer needs of its node, a `Protocol` (the node is never imported here);
- ``stages``: the stages and the moves between them (pure); ``planning``: what goes where, in which
  batches (pure); ``bundles``: the wire format of a bundle, its one encoder and one decoder;
- ``engine``: runs this node's part through its stages (I/O); ``markers``: the persisted marker;
- ``sending``: a bundle to a peer, over its raw listener or HTTP (``h11``); ``receiving``: the one receiver
  of both (invariant 2) and the raw listener.
"""
