"""The pod runner: plays the kubelet for local Nodes, running their pods as local processes."""
