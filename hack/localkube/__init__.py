"""Local Kubernetes: a real control plane and node built from the pinned Go modules, run offline."""
