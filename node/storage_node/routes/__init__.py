"""HTTP routes of the node: thin handlers that validate at the edge and call the `Node` service."""
