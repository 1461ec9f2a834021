"""Edit size: how much a reviewer changed, bounded so a long draft costs little to measure."""

from __future__ import annotations


def edit_distance_within(a: str, b: str, bound: int) -> int:
    """Levenshtein distance between a and b if it is at most `bound`, else bound + 1.

    Common prefix and suffix are stripped first (edits are usually local), then a banded
    dynamic programme of width 2*bound+1 runs on what is left: O(len * bound).
    """
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if not a or not b:
        return min(max(len(a), len(b)), bound + 1)
    big = bound + 1
    previous = [j if j <= bound else big for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        lo, hi = max(1, i - bound), min(len(b), i + bound)
        current = [big] * (len(b) + 1)
        if i <= bound:
            current[0] = i
        row_best = current[0]
        for j in range(lo, hi + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            current[j] = min(value, big)
            row_best = min(row_best, current[j])
        if row_best > bound:
            return big
        previous = current
    return min(previous[len(b)], big)
