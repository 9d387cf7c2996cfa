"""Pure builders of the Kubernetes objects the operator owns, one kind per module; no I/O, no decision about when."""
