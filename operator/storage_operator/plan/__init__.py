"""Pure decisions of a pass: lifecycle, rollout, capacity, budget, progress, phases, conditions; no I/O, no client."""
