"""Shared values: states, API bodies, statuses, the cluster map, time, revisions; pure, imports no other layer."""
