"""Local Kubernetes: a real control plane built from the pinned Go modules, and a pod runner (the kubelet)."""
