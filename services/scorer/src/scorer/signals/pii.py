"""Personal data in the draft: e-mails, phone numbers, payment cards, IBANs, national ids.

Read on the normalised text (signals/normalize.py), so other-script digits, zero-width characters
and spaced letters do not hide it; the patterns here read digits split by any separators
("4 1 1 1-1111-1111 1111", "123.45.6789") and `jane [at] example [dot] com`. Checksums and formats
come from python-stdnum (cards: Luhn; IBAN; US SSN, French NIR, Italian codice fiscale, Spanish
DNI/NIE) and phonenumbers (numbers written with + or 00 and a country code); UK NI numbers are
told by their published format, which stdnum does not cover.

PII that the customer wrote themselves (it appears in the customer message) is reported with
`(from the customer message)` and scores lower: repeating a customer's own email back is usually
fine; putting someone else's card number in an email never is. The customer message is scanned
once, only when the draft has findings, and its values kept in a set.

Cost is linear in the text: each pattern runs once, each distinct value is validated once, and a
draft gets at most MAX_LIBRARY_CHECKS library validations (MAX_PHONE_CHECKS of them phone
numbers), MAX_CANDIDATES candidates looked at (an e-mail-shaped stretch, an IBAN-shaped one, a
number in a digit run, a card-sized window of one) and MAX_EMAIL_ANCHORS "@" or "at" signs; past
any of them it is reported as having more personal-data-like content than was checked (value 1:
a reviewer looks): a customer email with hundreds of numbers or addresses is read by a person.
Bidi control characters are reported here too, as their own finding: they reorder what the
reviewer reads."""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice, pairwise

import phonenumbers
from pydantic import JsonValue
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

from hitl_schemas import Draft
from scorer.signals.base import SignalResult, span
from scorer.signals.normalize import bidi_controls, fold, normalize

NAME = "pii"
MAX_LIBRARY_CHECKS = 100
# phonenumbers' parse and check take ~0.4 ms a number, ten times any other check here: a draft
# of international numbers gets this many of them (a reviewer reads a draft with more).
MAX_PHONE_CHECKS = 25
# Each candidate costs ~10-15 us of Python, and the customer message is read too: 200 of them
# in each are ~5 ms of a draft's 50 ms. A reply with 200 addresses or long numbers is a list,
# and a person reads it (500 and 2,000 anchors had a draft of e-mails spend 13 ms here).
MAX_CANDIDATES = 200
MAX_EMAIL_ANCHORS = 1_000
MAX_GROUPS_PER_RUN = 2_000
# Spans built per draft, the first by position (a draft of 14,000 bidi controls took 36 ms to
# build them all); the rest are counted in the signal's spans_left_out. A reviewer reads a few
# dozen highlights and the scored event keeps HITL_MAX_SPANS_PER_SIGNAL (50 by default).
MAX_SPANS = 1_000
BIDI_LABEL = "bidi control character (reorders what the reviewer reads)"

# --- e-mail, with `@` or `.` written out: "jane [at] example [dot] com", "jane @ example.com"
_DOT = r"(?:\.|\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*|\s+dot\s+)"
# An address is found from its "@" (or written-out "at"): patterns that open with a literal or a
# character set scan fast, where one opening with the local part tries every word of the text.
_AT_SIGN = re.compile("@")
_AT_BRACKETED = re.compile(r"[\[({<]\s*(?:at|@)\s*[\])}>]", re.IGNORECASE)
_AT_WORD = re.compile(" at ")  # searched in the lowercase text
_LOCAL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}+$")
_DOMAIN = re.compile(rf"[^\W_][\w-]{{0,62}}+(?:{_DOT}[^\W_][\w-]{{0,62}}+){{1,6}}+", re.IGNORECASE)
_DOT_SPLIT = re.compile(_DOT, re.IGNORECASE)
_MAIL_PROVIDERS = frozenset(
    "gmail googlemail yahoo hotmail outlook live msn icloud me aol proton protonmail gmx web "
    "mail yandex zoho fastmail orange free laposte libero btinternet".split()
)
_ADDRESS_CHARS = re.compile(r"[\d._%+-]")
_ANY_DIGIT = re.compile(r"\d")  # what every pattern past the e-mails needs

# --- digit runs: digits joined by up to three separators ("(555) 123-4567", "4 1 1 1-1111")
_RUN = re.compile(r"(?<![\w+])(?:\+[ ]?)?\(?\d(?:[ .\-/()]{0,3}\d){6,}+")
_DIGIT_GROUP = re.compile(r"\d+")
_STRONG_SEPARATOR = re.compile(r"\s*[\-./]\s*")
# A run that holds a date ("2026-11-03-0042", "03.11.2026 10.11.2026") is a reference or a
# date range, not a phone number.
_DATE = re.compile(r"(?:19|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./]\d\d|\d\d[-./]\d\d[-./](?:19|20)\d\d")
_SSN_WORDS = re.compile(r"ssn|social security|soc\.? ?sec", re.IGNORECASE)
# Issuer prefixes and lengths of the card brands a customer email could carry (Visa, Mastercard,
# Amex, Discover, JCB, Diners, UnionPay, Maestro): a Luhn-valid order number seldom fits one.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|6(?:011|4[4-9]|5|2)|35|3(?:0[0-5]|[689])|5[06-9]")

# --- letters and digits: IBAN, UK NI number, codice fiscale, DNI/NIE (uppercase or all lowercase)
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]){11,32}+"
    r"|[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]){11,32}+)"
)
_IBAN_GROUP = re.compile(r"[A-Za-z0-9]+")
_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"[ .\-]?\d{2}[ .\-]?\d{2}[ .\-]?\d{2}[ .\-]?[A-D](?![A-Za-z0-9])"
)
_CODICE_FISCALE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z](?![A-Za-z0-9])"
)
_DNI = re.compile(r"(?<![A-Za-z0-9])(?:\d{8}|[XYZxyz]-?\d{7})-?[A-Za-z](?![A-Za-z0-9])")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_LETTER_BY_DIGIT = re.compile(r"[A-Za-z]\d|\d[A-Za-z]")  # in every IBAN, codice fiscale, DNI
_LETTER_PAIR_DIGITS = re.compile(r"[A-Z]{2}[ .\-]?\d\d")  # in every NI number

# Where findings overlap, the earlier kind wins (an IBAN's digits are not also a card).
PRIORITY = (
    "email",
    "iban",
    "national_id_it_codice_fiscale",
    "national_id_es_dni",
    "national_id_uk_nino",
    "card_number",
    "national_id_us_ssn",
    "national_id_fr_nir",
    "phone",
)
_RANK = {kind: i for i, kind in enumerate(PRIORITY)}


@dataclass(frozen=True, slots=True)
class Finding:
    start: int
    end: int
    kind: str
    value: str  # compact form, compared with the customer message's findings


@dataclass
class _Budget:
    """Validations for one text: each distinct value once, a bounded number in all."""

    library_calls: int = 0
    phone_calls: int = 0
    candidates: int = 0
    exhausted: bool = False
    memo: dict[tuple[str, str], bool] = field(default_factory=dict)

    def candidate(self) -> bool:
        self.candidates += 1
        if self.candidates > MAX_CANDIDATES:
            self.exhausted = True
        return not self.exhausted

    def valid(self, kind: str, value: str, validate: Callable[[str], bool]) -> bool:
        key = (kind, value)
        known = self.memo.get(key)
        if known is not None:
            return known
        phone = kind == "phone"
        if self.library_calls >= MAX_LIBRARY_CHECKS or (
            phone and self.phone_calls >= MAX_PHONE_CHECKS
        ):
            self.exhausted = True
            return False
        self.library_calls += 1
        self.phone_calls += phone
        ok = self.memo[key] = bool(validate(value))
        return ok


def luhn_ok(digits: str) -> bool:
    return bool(luhn.is_valid(digits))


def iban_ok(candidate: str) -> bool:
    return bool(stdnum_iban.is_valid(candidate))


# Letters as the IBAN checksum reads them: A is 10 ... Z is 35.
_IBAN_LETTER_VALUES = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


def _mod97_ok(compact: str) -> bool:
    # The IBAN checksum alone, before stdnum's slower validation (country format, length).
    moved = compact[4:] + compact[:4]
    return int(moved.translate(_IBAN_LETTER_VALUES)) % 97 == 1


def prepare() -> None:
    """Load what phonenumbers otherwise loads on first sight of each country, once, at start:
    every region's metadata (~140 ms), and its patterns kept compiled (the re module's own
    cache holds 512, fewer than the regions use, so numbers from many countries would keep
    recompiling them: a draft of them cost 25 ms in compiles alone)."""
    phonenumbers.enable_pattern_cache()
    for region in phonenumbers.SUPPORTED_REGIONS:
        phonenumbers.PhoneMetadata.metadata_for_region(region)
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)


def _phone_ok(number: str) -> bool:
    # Possible (a country code and a length that country's numbers have), not valid (in a range
    # allocated today): a number written as "+44 7700 900123" is someone's phone number to a
    # reader whether or not Ofcom has handed out that range, and national numbers are already
    # taken by their shape alone.
    try:
        return bool(phonenumbers.is_possible_number(phonenumbers.parse(number, None)))
    except phonenumbers.NumberParseException:
        return False


def _emails(text: str, budget: _Budget) -> list[Finding]:
    found: list[Finding] = []
    low = text.lower()
    limit = MAX_EMAIL_ANCHORS + 1
    anchors = [(m.start(), m.end(), False) for m in islice(_AT_SIGN.finditer(text), limit)]
    anchors += [(m.start(), m.end(), False) for m in islice(_AT_BRACKETED.finditer(text), limit)]
    if len(low) == len(text):
        anchors += [(m.start(), m.end(), True) for m in islice(_AT_WORD.finditer(low), limit)]
    anchors.sort()
    if len(anchors) > MAX_EMAIL_ANCHORS:
        budget.exhausted = True
        del anchors[MAX_EMAIL_ANCHORS:]
    for at_start, at_end, bare in anchors:
        while at_start > 0 and text[at_start - 1].isspace() and at_end - at_start < 8:
            at_start -= 1
        while at_end < len(text) and text[at_end].isspace() and at_end - at_start < 8:
            at_end += 1
        # The domain first: anchored where the sign ends, it fails at once on "@@@@".
        domain = _DOMAIN.match(text, at_end)
        if domain is None:
            continue
        local = _LOCAL.search(text, max(0, at_start - 64), at_start)
        if local is None or (found and local.start() < found[-1].end):
            continue
        if not budget.candidate():
            break
        labels = _DOT_SPLIT.split(domain.group())
        tld = labels[-1]
        if not (tld.isalpha() and 2 <= len(tld) <= 24):
            continue
        # With a bare " at " ("jane at example.com") prose looks the same ("visit us at
        # example.com"): only a written-out dot, a local part no word has, or a mail provider's
        # domain make it an address.
        if bare and not (
            any(d != "." for d in _DOT_SPLIT.findall(domain.group()))
            or _ADDRESS_CHARS.search(local.group())
            or labels[-2].lower() in _MAIL_PROVIDERS
        ):
            continue
        value = f"{local.group()}@{'.'.join(labels)}".lower()
        found.append(Finding(local.start(), domain.end(), "email", value))
    return found


def _alphanumeric(text: str, budget: _Budget) -> list[Finding]:
    found: list[Finding] = []
    # Patterns without a look-behind scan fast: these decide whether the others run at all.
    if _LETTER_BY_DIGIT.search(text) is None:
        return found if _LETTER_PAIR_DIGITS.search(text) is None else _ninos(text)
    for m in _IBAN.finditer(text):
        if not budget.candidate():
            return found
        groups = list(_IBAN_GROUP.finditer(m.group()))
        # The pattern reads on into the next words ("... 32 by Friday"): try the longest run of
        # whole groups that checks out.
        for last in range(len(groups) - 1, -1, -1):
            compact = "".join(g.group() for g in groups[: last + 1]).upper()
            if 15 <= len(compact) <= 34 and _mod97_ok(compact):
                if budget.valid("iban", compact, iban_ok):
                    end = m.start() + groups[last].end()
                    found.append(Finding(m.start(), end, "iban", compact))
                break
    for pattern, kind, validate in (
        (_CODICE_FISCALE, "national_id_it_codice_fiscale", codicefiscale.is_valid),
        (_DNI, "national_id_es_dni", _dni_or_nie_ok),
    ):
        for m in pattern.finditer(text):
            compact = _NOT_ALNUM.sub("", m.group()).upper()
            if budget.valid(kind, compact, validate):
                found.append(Finding(m.start(), m.end(), kind, compact))
    if _LETTER_PAIR_DIGITS.search(text) is not None:
        found += _ninos(text)
    return found


def _ninos(text: str) -> list[Finding]:
    return [
        Finding(m.start(), m.end(), "national_id_uk_nino", _NOT_ALNUM.sub("", m.group()))
        for m in _NINO.finditer(text)
    ]


def _dni_or_nie_ok(compact: str) -> bool:
    return bool(nie.is_valid(compact) if compact[0] in "XYZ" else dni.is_valid(compact))


def _digit_runs(text: str, budget: _Budget) -> list[Finding]:
    found: list[Finding] = []
    for m in _RUN.finditer(text):
        if budget.exhausted or budget.library_calls >= MAX_LIBRARY_CHECKS:
            budget.exhausted = True  # reported as more than was checked: a reviewer reads it
            break
        run = m.group()
        matches = islice(_DIGIT_GROUP.finditer(run), MAX_GROUPS_PER_RUN + 1)
        groups = [(g.start(), g.end()) for g in matches]
        whole = _number(run, groups, text, m.start(), budget)
        if whole is not None:
            found.append(whole)
        elif len(groups) > 1:
            found += _numbers_in_run(run, groups, text, m.start(), budget)
    return found


def _number(
    run: str, groups: list[tuple[int, int]], text: str, at: int, budget: _Budget
) -> Finding | None:
    """What the digits of `run` (at offset `at` of `text`) are, if personal data."""
    if not budget.candidate():
        return None
    digits = "".join(run[s:e] for s, e in groups)
    sizes = [e - s for s, e in groups]
    if run.startswith(("+", "00")):
        # Parsed as written: phonenumbers reads "+44 (0) 20 ..." and its national prefix.
        number = "+" + run[2:] if run.startswith("00") else run
        if 7 <= len(digits) <= 17 and budget.valid("phone", number, _phone_ok):
            return Finding(at, at + len(run), "phone", "+" + digits.removeprefix("00"))
        return None
    kind = (
        "card_number"
        if _card_ok(digits, budget)
        else _national_id(run, digits, sizes, text, at, budget)
    )
    if kind == "":
        return None  # an SSN-shaped number that is not one is not a phone number either
    if kind is None and 9 <= len(digits) <= 15 and _looks_like_national_phone(run, sizes):
        kind = "phone"
    return None if kind is None else Finding(at, at + len(run), kind, digits)


def _numbers_in_run(
    run: str, groups: list[tuple[int, int]], text: str, at: int, budget: _Budget
) -> list[Finding]:
    """Numbers written in a row with spaces between them ("SSN 123-45-6789 2 days",
    "4111 1111 1111 1111 4111 1111 ..."): each stretch joined by - . / ( ) on its own; and, past
    19 digits, card numbers among space-joined groups (windows of whole groups)."""
    found: list[Finding] = []
    cut = len(groups) > MAX_GROUPS_PER_RUN
    if cut:
        # Thousands of numbers in a row with nothing but separators between them: no email
        # reads like that; check the first ones and report the draft as more than was checked.
        groups = groups[:MAX_GROUPS_PER_RUN]
        found = _numbers_in_run(run[: groups[-1][1]], groups, text, at, budget)
        budget.exhausted = True
        return found
    spaced = [" " in run[end:start] for (_, end), (start, _) in pairwise(groups)]
    if not any(spaced):
        return found  # one number, already read as a whole
    chain_start = 0
    for k in range(len(groups)):
        if k == len(groups) - 1 or spaced[k]:
            found += _window(run, groups, chain_start, k, text, at, budget)
            chain_start = k + 1
    if sum(e - s for s, e in groups) <= 19:
        return found
    i = 0
    while i < len(groups):
        total, hit = 0, None
        for j in range(i, len(groups)):
            total += groups[j][1] - groups[j][0]
            if total > 19 or (j > i and not spaced[j - 1]):
                break
            if total >= 13:
                if not budget.candidate():
                    return found
                digits = "".join(run[s:e] for s, e in groups[i : j + 1])
                if _card_ok(digits, budget):
                    hit = Finding(at + groups[i][0], at + groups[j][1], "card_number", digits)
                    found.append(hit)
                    i = j + 1
                    break
        if hit is None:
            i += 1
    return found


def _window(
    run: str, groups: list[tuple[int, int]], i: int, j: int, text: str, at: int, budget: _Budget
) -> list[Finding]:
    if sum(e - s for s, e in groups[i : j + 1]) < 7:
        return []
    start = 0 if i == 0 else groups[i][0]
    window = [(s - start, e - start) for s, e in groups[i : j + 1]]
    hit = _number(run[start : groups[j][1]], window, text, at + start, budget)
    return [] if hit is None else [hit]


def _card_ok(digits: str, budget: _Budget) -> bool:
    return (
        13 <= len(digits) <= 19
        and _CARD_PREFIX.match(digits) is not None
        and _luhn_quick(digits)
        and budget.valid("card", digits, luhn_ok)
    )


def _luhn_quick(digits: str) -> bool:
    # The checksum in a few operations, before stdnum confirms it: nine in ten windows of a long
    # run of digits end here without using the validation budget.
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(d)] for d in digits[-2::-2])
    return total % 10 == 0


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _national_id(
    run: str, digits: str, sizes: list[int], text: str, at: int, budget: _Budget
) -> str | None:
    """A national id's kind; "" for an SSN-shaped number that fails the SSN rules; else None."""
    n = len(digits)
    if n == 9:
        strong = [sum(c.isdigit() for c in part) for part in _STRONG_SEPARATOR.split(run)]
        if (
            sizes == [3, 2, 4]
            or strong == [3, 2, 4]
            or _SSN_WORDS.search(text, max(0, at - 40), at) is not None
        ):
            return "national_id_us_ssn" if budget.valid("ssn", digits, ssn.is_valid) else ""
    if n == 15 and digits[0] in "12" and len(sizes) in (1, 7):
        if budget.valid("nir", digits, nir.is_valid):
            return "national_id_fr_nir"
    return None


def _looks_like_national_phone(run: str, sizes: list[int]) -> bool:
    # Order numbers and amounts are digit runs too: a national number opens with "(", or has
    # three or more blocks of 2-5 digits, or is spelled digit by digit ("5 5 5 1 2 3 ...").
    if run.startswith("("):
        return True
    if _DATE.search(run):
        return False
    if len(sizes) == 4 and "." in run and all(s <= 3 for s in sizes):
        return False  # an IP address
    return (len(sizes) >= 3 and all(2 <= s <= 5 for s in sizes)) or (
        len(sizes) >= 9 and all(s == 1 for s in sizes)
    )


def _select(findings: list[Finding]) -> list[Finding]:
    """Non-overlapping findings, higher-priority kinds first: sort, then keep each that is free
    of those kept (kept spans are sorted and disjoint, so only the neighbours can overlap)."""
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (_RANK[f.kind], f.start)):
        i = bisect_left(starts, f.start)
        if (i > 0 and ends[i - 1] > f.start) or (i < len(starts) and starts[i] < f.end):
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        kept.append(f)
    kept.sort(key=lambda f: f.start)
    return kept


def scan(text: str, budget: _Budget | None = None) -> tuple[list[Finding], bool]:
    """Findings in already-normalised text, and whether the checking budget ran out."""
    budget = budget or _Budget()
    findings = _emails(text, budget)
    if _ANY_DIGIT.search(text) is not None:
        findings += _alphanumeric(text, budget)
        findings += _digit_runs(text, budget)
    return _select(findings), budget.exhausted


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each piece of personal data, as offsets into `text` itself."""
    normalized = normalize(text)
    findings, _ = scan(normalized.text)
    return [(*normalized.source_span(f.start, f.end), f.kind) for f in findings]


def customer_values(customer_message: str) -> frozenset[str]:
    """The compact values of the PII in the customer message: what a draft may echo back."""
    findings, _ = scan(fold(customer_message))
    return frozenset(f.value for f in findings)


def pii(draft: Draft) -> SignalResult:
    text = draft.text
    normalized = normalize(text)
    findings, exhausted = scan(normalized.text)
    bidi = bidi_controls(text)
    if not findings and not bidi and not exhausted:
        return SignalResult(0.0)
    customer = draft.context.customer_message
    echoable = customer_values(customer) if customer and findings else frozenset()
    kinds: dict[str, int] = {}
    echoed: list[bool] = []
    for f in findings:
        echoed.append(f.value in echoable)
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    foreign = echoed.count(False)
    located = (
        (*normalized.source_span(f.start, f.end), f.kind, echo)
        for f, echo in zip(findings, echoed, strict=True)
    )
    by_position = heapq.merge(located, ((pos, pos + 1, "", False) for pos in bidi))
    spans = [
        span(start, end, _label(kind, echo))
        for start, end, kind, echo in islice(by_position, MAX_SPANS)
    ]
    value = 1.0 if foreign or bidi or exhausted else 0.4
    details: dict[str, JsonValue] = {
        "kinds": dict(kinds),
        "echoed": len(findings) - foreign,
    }
    if bidi:
        details["bidi_controls"] = len(bidi)
    if exhausted:
        details["more_than_checked"] = True
    left_out = len(findings) + len(bidi) - len(spans)
    return SignalResult(value, tuple(spans), details, spans_left_out=left_out)


def _label(kind: str, echoed: bool) -> str:
    if not kind:
        return BIDI_LABEL
    return f"{kind} (from the customer message)" if echoed else kind
