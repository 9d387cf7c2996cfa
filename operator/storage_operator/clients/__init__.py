"""The narrow clients: Kubernetes, the storage nodes, long polls, events, metrics; I/O only, no lifecycle decision."""
