"""A real node: containerd + CNI, the kubelet and kube-proxy on this machine's own bridge (no packet leaves)."""
