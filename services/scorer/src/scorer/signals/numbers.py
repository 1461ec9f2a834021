"""Numbers as written in drafts and sources: one canonical key per quantity, never an exception.

`number_key` reads thousands separators and decimal marks of the common locales (1,234.56 and
1.234,56 are 1234.56; 1,250 and 1.250.000 are whole numbers; 12,5 is 12.5) and keeps anything
that is not a quantity (a dotted date 03.11.2026, an IP 10.0.0.1, a version 2.3.1) as written,
to be compared exactly. Keys are digit strings: a 50,000-digit run is a key like any other, with
no conversion to int or float (which raise or lose digits). `amount_spellings` goes the other
way: the usual ways of writing a key, so a claim is looked up in the set of a source's numbers
as written instead of normalising every number of a 400,000-character source.
"""

from __future__ import annotations

import re

_MARK = re.compile(r"[.,]")


def number_key(token: str) -> str:
    """The canonical key of a number as written: "1250", "1234.56", or the token itself."""
    token = token.rstrip(".,")
    if token.isdigit():
        return _whole(token)
    groups = _MARK.split(token)
    marks = _MARK.findall(token)
    if not marks or not all(g.isdigit() for g in groups):
        return token  # not one number (empty, or other characters): compare as written
    last = marks[-1]
    if len(marks) == 1:
        if last == "," and len(groups[1]) == 3:
            return _whole(token.replace(",", ""))  # 1,250: a thousands separator
        return _decimal(groups[0], groups[1])  # 1.25, 12,5: a decimal mark
    if all(m != last for m in marks[:-1]):
        # Two kinds of mark: the last is the decimal mark, the others group thousands.
        if _grouped(groups[:-1]):
            return _decimal("".join(groups[:-1]), groups[-1])
        return token
    if _grouped(groups):
        return _whole("".join(groups))  # 1,250,000 or 1.250.000
    return token  # 2.3.1, 03.11.2026, 10.0.0.1: not a quantity


def amount_spellings(key: str) -> list[str]:
    """Usual spellings of a key from `number_key`, each of which has that key: 1250 is also
    written 1,250, 1250.00, 1.250,00 ...; a key that is not a quantity is only itself."""
    whole, _, fraction = key.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or key.count(".") > 1:
        return [key]
    commas, dots = _group(whole, ","), _group(whole, ".")
    out = [whole] if not fraction else []
    fractions = [fraction, fraction + "0"] if fraction else ["0", "00", "000"]
    for f in fractions:
        out.append(f"{whole}.{f}")
        if len(f) != 3:  # 1250,000 would read as a thousands separator
            out.append(f"{whole},{f}")
    if len(whole) > 3:
        if not fraction:
            out.append(commas)
            if len(whole) > 6:  # 1.250.000 (two dots) is whole; 1.250 is 1.25
                out.append(dots)
        for f in fractions:
            out.append(f"{commas}.{f}")
            out.append(f"{dots},{f}")
    return out


def _whole(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _decimal(whole: str, fraction: str) -> str:
    fraction = fraction.rstrip("0")
    return f"{_whole(whole)}.{fraction}" if fraction else _whole(whole)


def _grouped(groups: list[str]) -> bool:
    """1,234,567: a first group of one to three digits, then groups of exactly three."""
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _group(whole: str, mark: str) -> str:
    head = len(whole) % 3 or 3
    return mark.join([whole[:head], *(whole[i : i + 3] for i in range(head, len(whole), 3))])
