"""Shared values: states, specs, statuses, API bodies, the map, time, revisions; pure, imports no other layer."""
