"""The heap after start-up: what a service loaded once, kept out of the garbage collector's scans.

A service loads its models, vocabularies and metadata at start, ~130,000 tracked objects in the
scorer. Each full collection walks them all (67 ms measured in the scorer), and one can fall on
any event: a latency spike for the draft that happens to be scored then. `settle` collects once
and freezes what is left, so later collections walk only what was made since (CPython's
`gc.freeze`, meant for exactly this).
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze every object that survived start-up; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
