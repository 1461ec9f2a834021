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


def is_error(
    verdict: str, draft_text: str, final_text: str | None, trivial_edit_chars: int
) -> bool:
    """A reject, or an edit larger than the content type's trivial-edit bound: the one definition
    of a human-found error, used by the router's evidence and the feedback's labels."""
    if verdict == "reject":
        return True
    if verdict == "approve" or final_text is None:
        return False
    bound = trivial_edit_chars
    return edit_distance_within(draft_text, final_text, bound) > bound


def edit_size(before: str, after: str | None) -> tuple[int, int]:
    """(characters, tokens) changed from `before` to `after`, from difflib's opcodes: close to
    the edit distance at a fraction of its cost on long texts."""
    if after is None:
        return 0, 0
    import difflib

    def changed(a: list[str] | str, b: list[str] | str) -> int:
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        return sum(
            max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
        )

    return changed(before, after), changed(before.split(), after.split())
