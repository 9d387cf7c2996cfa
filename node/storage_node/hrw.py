"""Rendezvous (highest random weight) hashing with mmh3: pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import mmh3


def _seed(candidate: str) -> int:
    return int(mmh3.hash(candidate, seed=0x5EED, signed=False))


def score(key: str, candidate: str) -> int:
    """Weight of `candidate` for `key`; the candidate with the highest weight wins."""
    return int(mmh3.hash(key, seed=_seed(candidate), signed=False))


def winner(key: str, candidates: Iterable[str]) -> str:
    """The HRW winner of `key` among `candidates` (ties broken by name); ValueError if none."""
    best: tuple[int, str] | None = None
    for candidate in candidates:
        item = (score(key, candidate), candidate)
        if best is None or item > best:
            best = item
    if best is None:
        raise ValueError("no candidates")
    return best[1]


def ranking(key: str, candidates: Iterable[str]) -> list[str]:
    """All candidates ordered by decreasing weight for `key`."""
    return [c for _, c in sorted(((score(key, c), c) for c in candidates), reverse=True)]


class Ring:
    """Precomputed seeds for a fixed candidate set, for fast repeated lookups."""

    def __init__(self, candidates: Sequence[str]) -> None:
        """Precompute the seeds of `candidates`."""
        self.candidates = tuple(sorted(candidates))
        self._seeds = [(_seed(c), c) for c in self.candidates]

    def winner(self, key: str) -> str:
        """Same as `winner(key, candidates)`."""
        if not self._seeds:
            raise ValueError("no candidates")
        return max((int(mmh3.hash(key, seed=s, signed=False)), c) for s, c in self._seeds)[1]

    def top(self, key: str, k: int) -> list[str]:
        """The first `k` of `ranking(key, candidates)` (fewer when there are fewer candidates)."""
        if k == 1:
            return [self.winner(key)] if self._seeds else []
        scored = sorted(((int(mmh3.hash(key, seed=s, signed=False)), c) for s, c in self._seeds), reverse=True)
        return [c for _, c in scored[:k]]
