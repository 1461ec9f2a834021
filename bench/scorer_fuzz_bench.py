"""Scorer fuzz benchmark: the worst per-draft scoring time over adversarial drafts at the limits.

    uv run python -m bench.scorer_fuzz_bench [--per-generator 120] [--only clause_refs,quotes]
        [--json bench/results/scorer_fuzz.json]

Each generator writes drafts that aim at one signal's worst case (many numbers, clause
references, quotes, dates, SSNs, emails, phones, long words, repeated tokens, odd unicode ...),
as large as the input limits allow: the draft text at HITL_MAX_TEXT_CHARS, the context at
HITL_MAX_CONTEXT_CHARS, the encoded draft under HITL_MAX_MESSAGE_BYTES (the defaults of the
runtime settings). Every draft is decoded as the scorer would decode it, has sources of its own
(no cache helps), and is scored alone with the prior model. Times are CPU seconds of this
process (`time.process_time`), so other work on a shared machine inflates them less than wall
time; the goal is a worst case of 50 ms per draft. No broker needed.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import write_result
from hitl_runtime.heap import settle
from hitl_runtime.policy import load_policy
from hitl_runtime.serde import decode, encode
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import Draft, DraftContext, ProducerInfo, SourceDocument
from hitl_schemas.common import Limits
from scorer.model import load_model, prior
from scorer.scoring import Scorer
from scorer.signals.grounding import MAX_CLAIMS, MAX_NUMBERS, MAX_QUOTES, MAX_REFERENCE_CHARS
from scorer.signals.toxicity import ToxicityClassifier

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("chat_reply", "customer_email", "refund_offer", "legal_clause")
GOAL_MS = 50.0


def default_limits() -> Limits:
    """The input limits a deployment runs with unless told otherwise (the settings' defaults)."""
    fields = ServiceSettings.model_fields
    return Limits(
        max_message_bytes=fields["max_message_bytes"].default,
        max_text_chars=fields["max_text_chars"].default,
        max_context_chars=fields["max_context_chars"].default,
    )


@dataclass(frozen=True)
class Material:
    """What a generator writes: the draft text, its sources and the customer's message."""

    text: str
    sources: list[str]
    customer: str = ""


def repeat_to(rng: random.Random, size: int, piece: Callable[[random.Random], str]) -> str:
    """Pieces joined until `size` characters, cut at `size`."""
    parts: list[str] = []
    total = 0
    while total < size:
        part = piece(rng)
        parts.append(part)
        total += len(part)
    return "".join(parts)[:size]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(n))


VOCABULARY = (
    "items may be returned within days of delivery for a full refund the order shipped "
    "policy section clause we will your account customer payment a the of"
).split()


def _amount(rng: random.Random) -> str:
    value = rng.choice([rng.randint(1, 99), rng.randint(100, 99_999), rng.randint(1, 10**7)])
    form = rng.choice(["{:,}", "{}", "{:,}.00", "{}.{:02d}", "{:,}"])
    shown = form.format(value, rng.randint(0, 99)) if "{:02d}" in form else form.format(value)
    return rng.choice(["$", "€", "£", "EUR ", "USD "]) + shown + rng.choice([" ", ", ", ". "])


def amounts(rng: random.Random, t: int, c: int) -> Material:
    return Material(repeat_to(rng, t, _amount), [repeat_to(rng, c, _amount)])


def dollar_ones(rng: random.Random, t: int, c: int) -> Material:
    # Issue 15: "$1 " * 17000 with a 330,000-char source of numbers.
    return Material(
        ("$1 " * (t // 3 + 1))[:t], [repeat_to(rng, c, lambda r: f"{r.randint(0, 9)} ")]
    )


def clause_refs(rng: random.Random, t: int, c: int) -> Material:
    # Issue 15: 24,998 `§1` references against a 399K source (127 s of CPU): a source where the
    # clause number never stands alone makes every lookup read all of it.
    text = rng.choice(["§1" * (t // 2), repeat_to(rng, t, lambda r: f"§{r.randint(1, 999)} ")])
    source = rng.choice(
        [
            repeat_to(rng, c, lambda r: f"{r.randint(1000, 9999)}.{r.randint(100, 999)} "),
            words(rng, c // 5)[:c],
        ]
    )
    return Material(text[:t], [source])


def section_ij(rng: random.Random, t: int, c: int) -> Material:
    def ref(r: random.Random) -> str:
        kind = r.choice(["section", "clause", "article", "paragraph", "para."])
        return f"{kind} {r.randint(1, 99)}.{r.randint(1, 99)}{r.choice(['', '(a)', '(iv)'])} "

    def near(r: random.Random) -> str:  # 112.5 holds 12.5, but not as a clause number
        return f"{r.randint(100, 999)}.{r.randint(1, 99)} "

    def dotted(r: random.Random) -> str:
        return f"{r.randint(1, 99)}.{r.randint(1, 99)}.{r.randint(1, 9)} x "

    return Material(repeat_to(rng, t, ref), [repeat_to(rng, c, rng.choice([near, dotted]))])


def quotes(rng: random.Random, t: int, c: int) -> Material:
    mode = rng.choice(["distinct", "near_miss", "open_only"])
    if mode == "open_only":  # opening quotes that never close: the quote pattern's worst case
        return Material(
            repeat_to(rng, t, lambda r: "“" + words(r, 2) + " "), [words(rng, c // 5)[:c]]
        )
    if mode == "near_miss":  # "a a a ... a b" against "a a a a ...": substring search's worst case
        source = ("a " * (c // 2))[:c]
        return Material(
            repeat_to(rng, t, lambda r: '"' + "a " * r.randint(6, 290) + f'b{r.randint(0, 999)}" '),
            [source],
        )
    return Material(
        repeat_to(rng, t, lambda r: '"' + words(r, r.randint(3, 80)) + '" '),
        [words(rng, c // 5)[:c]],
    )


def _date(rng: random.Random) -> str:
    d, m, y = rng.randint(1, 31), rng.randint(1, 12), rng.randint(1990, 2040)
    month = ["January", "Feb", "March", "Apr", "May", "June", "Jul", "Aug", "Sept", "Oct"][m % 10]
    return rng.choice(
        [
            f"{d} {month} ",
            f"{month} {d}th ",
            f"{y}-{m:02d}-{d:02d} ",
            f"{d:02d}.{m:02d}.{y} ",
            f"{d}rd of {month} ",
            f"{d}/{m}/{y} ",
        ]
    )


def dates(rng: random.Random, t: int, c: int) -> Material:
    return Material(repeat_to(rng, t, _date), [repeat_to(rng, c, _date)])


def durations_percents(rng: random.Random, t: int, c: int) -> Material:
    def piece(r: random.Random) -> str:
        n = r.randint(1, 9999)
        unit = r.choice(["days", "business days", "hours", "weeks", "%", " percent", "years"])
        return f"within {n} {unit} " if unit[0].isalpha() else f"{n}{unit} "

    return Material(repeat_to(rng, t, piece), [repeat_to(rng, c, piece)])


def ssns(rng: random.Random, t: int, c: int) -> Material:
    def ssn(r: random.Random) -> str:
        return f"{r.randint(100, 665)}-{r.randint(10, 99)}-{r.randint(1000, 9999)} "

    text = repeat_to(rng, t, ssn)
    return Material(text, [words(rng, 200)], customer=text[: rng.randint(0, 40_000)])


def emails(rng: random.Random, t: int, c: int) -> Material:
    def email(r: random.Random) -> str:
        user = "".join(r.choices(string.ascii_lowercase + "._+", k=r.randint(1, 30)))
        return f"{user}@{r.choice(['example', 'mail', 'a.b.c'])}.{r.choice(['com', 'org', 'co'])} "

    text = repeat_to(rng, t, email)
    return Material(text, [words(rng, 200)], customer=text[: rng.randint(0, 40_000)])


def phones(rng: random.Random, t: int, c: int) -> Material:
    def phone(r: random.Random) -> str:
        groups = [str(r.randint(10, 9999)) for _ in range(r.randint(2, 6))]
        return r.choice(["+", "", "(0)"]) + r.choice([" ", "-", ".", ""]).join(groups) + " "

    text = repeat_to(rng, t, phone)
    return Material(text, [words(rng, 200)], customer=text[: rng.randint(0, 40_000)])


def cards_ibans(rng: random.Random, t: int, c: int) -> Material:
    def piece(r: random.Random) -> str:
        if r.random() < 0.5:
            return " ".join(str(r.randint(1000, 9999)) for _ in range(4)) + " "
        return (
            "DE"
            + "".join(r.choices(string.digits, k=2))
            + " "
            + "".join(r.choices(string.ascii_uppercase + string.digits + " ", k=r.randint(11, 40)))
            + " "
        )

    return Material(repeat_to(rng, t, piece), [words(rng, 200)])


def long_words(rng: random.Random, t: int, c: int) -> Material:
    alphabet = rng.choice([string.ascii_letters, string.ascii_lowercase + string.digits, "a"])
    word = "".join(rng.choices(alphabet, k=t))
    return Material(word, ["".join(rng.choices(alphabet, k=c))])


def digit_runs(rng: random.Random, t: int, c: int) -> Material:
    # A 4,301-digit number is past Python's int-str conversion limit.
    run = "".join(rng.choices(string.digits, k=rng.choice([4_301, 20_000, t - 10])))
    text = (
        rng.choice(["$", "§", "#", "section ", ""]) + run + rng.choice(["%", " days", " EUR", ""])
    )
    return Material(text[:t], ["".join(rng.choices(string.digits + ".,", k=c))])


def repeated_tokens(rng: random.Random, t: int, c: int) -> Material:
    token = rng.choice(
        [
            "refund ",
            "we will refund you within 24 hours, guaranteed. ",
            "The same sentence again and again. ",
            "a ",
            "{{name}} [customer name] ",
            "\n",
            "100% ",
            "you idiot ",
        ]
    )
    return Material((token * (t // len(token) + 1))[:t], [(token * (c // len(token) + 1))[:c]])


UNICODE_RANGES = [
    (0x0300, 0x036F),  # combining marks
    (0x0660, 0x0669),  # Arabic-Indic digits
    (0x0966, 0x096F),  # Devanagari digits
    (0xFF10, 0xFF19),  # fullwidth digits
    (0x200B, 0x200F),  # zero-width and direction marks
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x0400, 0x04FF),  # Cyrillic
    (0x4E00, 0x4FFF),  # CJK
    (0x1F600, 0x1F64F),  # emoji
]


def unicode_soup(rng: random.Random, t: int, c: int) -> Material:
    def piece(r: random.Random) -> str:
        lo, hi = r.choice(UNICODE_RANGES)
        chars = "".join(chr(r.randint(lo, hi)) for _ in range(r.randint(1, 8)))
        return chars + r.choice([" ", "$", "§", ".", "@", "-", '"', "", "1"])

    return Material(repeat_to(rng, t, piece), [repeat_to(rng, c, piece)])


def versions_ips(rng: random.Random, t: int, c: int) -> Material:
    def piece(r: random.Random) -> str:
        return r.choice(
            [
                f"{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)} ",
                f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(0, 255)} ",
                f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2040)} ",
                f"1.234.567,{r.randint(0, 99)} ",
                f"v{r.randint(0, 9)}.{r.randint(0, 9)} ",
            ]
        )

    text = repeat_to(rng, t, lambda r: piece(r) + r.choice(["", "$5,000 ", "section 4.2 "]))
    return Material(text, [repeat_to(rng, c, piece)])


def lines_and_artefacts(rng: random.Random, t: int, c: int) -> Material:
    def piece(r: random.Random) -> str:
        return r.choice(["[customer name] ", "{{ x }}", "<insert date>", "\n", "TODO ", "[", "{"])

    return Material(repeat_to(rng, t, piece), [words(rng, 300)])


def grounding_caps(rng: random.Random, t: int, c: int) -> Material:
    """Just under grounding's caps (claims, numbers, quotes), each claim missing from a source
    dense in numbers, dates and near-miss text: every index of the source is built and used."""
    kinds = [
        lambda r: f"${r.randint(1, 10**6):,}.{r.randint(1, 99)} ",
        lambda r: f"section {r.randint(1, 99)}.{r.randint(1, 99)}.{r.randint(1, 9)} ",
        lambda r: f"{r.randint(1, 28)} {r.choice(['March', 'Sept', 'dec'])}, ",
        lambda r: f"within {r.randint(1, 999)} business days ",
        lambda r: f"{r.randint(1, 99)}.{r.randint(1, 9)}% ",
        lambda r: f"order #{r.randint(10**5, 10**9)} ",
    ]
    pieces = [rng.choice(kinds)(rng) for _ in range(MAX_CLAIMS - 1)]
    pieces += [str(rng.randint(1, 9)) + " " for _ in range(MAX_NUMBERS - 2 * MAX_CLAIMS)]
    pieces += ['"' + "a " * rng.randint(20, 200) + 'b" ' for _ in range(MAX_QUOTES)]
    rng.shuffle(pieces)
    text = "".join(pieces)
    text += words(rng, max(0, t - len(text)) // 5)
    # The reference just under grounding's cap (a longer one is reviewed, not indexed).
    size = min(c, MAX_REFERENCE_CHARS - 1_000)
    source = repeat_to(rng, size * 2 // 3, lambda r: r.choice([_date(r), _amount(r)]))
    return Material(text[:t], [source + "a " * ((size - len(source)) // 2)])


GENERATORS: dict[str, Callable[[random.Random, int, int], Material]] = {
    "amounts": amounts,
    "dollar_ones": dollar_ones,
    "clause_refs": clause_refs,
    "section_ij": section_ij,
    "quotes": quotes,
    "dates": dates,
    "durations_percents": durations_percents,
    "ssns": ssns,
    "emails": emails,
    "phones": phones,
    "cards_ibans": cards_ibans,
    "long_words": long_words,
    "digit_runs": digit_runs,
    "repeated_tokens": repeated_tokens,
    "unicode": unicode_soup,
    "versions_ips": versions_ips,
    "lines_and_artefacts": lines_and_artefacts,
    "grounding_caps": grounding_caps,
}


def mixed(rng: random.Random, t: int, c: int) -> Material:
    """A few generators' material cut to share the limits."""
    chosen = rng.sample(sorted(GENERATORS), 3)
    parts = [GENERATORS[name](rng, t // 3, c // 3) for name in chosen]
    return Material(
        "".join(p.text for p in parts),
        [s for p in parts for s in p.sources],
        "".join(p.customer for p in parts)[: c // 4],
    )


GENERATORS["mixed"] = mixed


def build(index: int, material: Material, content_type: str, limits: Limits) -> Draft:
    """A draft the scorer would accept: sources shortened until the encoded draft fits."""
    # A unique first word per text and source: no per-text cache may carry one draft's work to
    # the next (one material is built into several drafts).
    sources = [f"[{tag(index)}] {text}" for text in material.sources]
    customer = material.customer
    text = f"[{tag(index)}] {material.text}"[: limits.max_text_chars]
    while True:
        prompt = "Reply to the customer."
        room = limits.max_context_chars - len(prompt) - len(customer) - 8 * len(sources)
        sources = _fit(sources, room)
        draft = Draft(
            draft_id=f"fuzz-{index:06d}",
            tenant="fuzz",
            content_type=content_type,
            text=text,
            context=DraftContext(
                prompt=prompt,
                customer_message=customer or None,
                sources=[SourceDocument(source_id=f"s{i}", text=s) for i, s in enumerate(sources)],
            ),
            producer=ProducerInfo(app="fuzz", model="m", confidence=0.97),
            created_at=datetime.now(UTC),
        )
        data = encode(draft)
        if len(data) <= limits.max_message_bytes:
            return decode(Draft, data, limits)
        # Multi-byte characters: shrink what is largest until the encoded draft fits.
        scale = limits.max_message_bytes / len(data) * 0.97
        if sum(map(len, sources)) > len(text):
            sources = [s[: int(len(s) * scale)] for s in sources]
        else:
            text = text[: int(len(text) * scale)]
        customer = customer[: int(len(customer) * scale)]


def tag(index: int) -> str:
    """A per-draft marker without digits (a digit would be one more number in the sources)."""
    letters = ""
    while True:
        index, digit = divmod(index, 26)
        letters += string.ascii_lowercase[digit]
        if not index:
            return letters


def _fit(sources: list[str], room: int) -> list[str]:
    total = sum(map(len, sources))
    if total <= room:
        return sources
    return [s[: max(0, room * len(s) // total)] for s in sources]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(per_generator: int, only: list[str], seed: int) -> dict[str, Any]:
    limits = default_limits()
    scorer = Scorer(policy=load_policy(ROOT / "policy/default.yaml"), toxicity=ToxicityClassifier())
    model = load_model(prior())
    scorer.score_batch(
        [build(0, GENERATORS["amounts"](random.Random(0), 100, 100), TYPES[0], limits)], model
    )
    settle()  # as the scorer does once it has started (python -m scorer)
    rng = random.Random(seed)
    index = 0
    by_generator: dict[str, Any] = {}
    overall: list[float] = []
    for name in only:
        generate = GENERATORS[name]
        times: list[float] = []
        worst: tuple[float, str, dict[str, float]] = (0.0, "", {})
        material = Material("", [])
        for n in range(per_generator):
            index += 1
            if n % len(TYPES) == 0:
                # One material is scored as each content type (their policies differ); the
                # per-draft tag still gives each draft sources of its own.
                material = generate(rng, limits.max_text_chars, limits.max_context_chars)
            draft = build(
                index,
                material,
                TYPES[n % len(TYPES)],
                limits,
            )
            started = time.process_time()
            _, stats = scorer.score_batch([draft], model)
            elapsed = (time.process_time() - started) * 1000
            times.append(elapsed)
            if elapsed > worst[0]:
                worst = (
                    elapsed,
                    draft.draft_id,
                    {k: round(v * 1000, 1) for k, v in stats.seconds.items()},
                )
        overall.extend(times)
        by_generator[name] = {
            "drafts": len(times),
            "worst_ms": round(max(times), 1),
            "p99_ms": round(percentile(times, 0.99), 1),
            "p50_ms": round(percentile(times, 0.50), 1),
            "worst_draft": worst[1],
            "worst_draft_wall_ms_by_signal": dict(sorted(worst[2].items(), key=lambda kv: -kv[1])),
        }
        slowest = next(iter(by_generator[name]["worst_draft_wall_ms_by_signal"]), "-")
        sys.stdout.write(
            f"{name:20s} worst {max(times):9.1f} ms  p99 {percentile(times, 0.99):9.1f}  "
            f"p50 {percentile(times, 0.5):8.1f}  slowest signal {slowest}\n"
        )
        sys.stdout.flush()
    return {
        "limits": {
            "max_text_chars": limits.max_text_chars,
            "max_context_chars": limits.max_context_chars,
            "max_message_bytes": limits.max_message_bytes,
        },
        "clock": "process CPU time (time.process_time) around Scorer.score_batch([draft])",
        "goal_worst_ms": GOAL_MS,
        "overall": {
            "drafts": len(overall),
            "worst_ms": round(max(overall), 1),
            "p99_ms": round(percentile(overall, 0.99), 1),
            "p50_ms": round(percentile(overall, 0.50), 1),
            "within_goal": max(overall) <= GOAL_MS,
        },
        "by_generator": by_generator,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-generator", type=int, default=120, help="drafts per generator")
    parser.add_argument("--only", default="", help="comma-separated generator names (default all)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "scorer_fuzz.json"))
    args = parser.parse_args(argv)
    only = [n for n in args.only.split(",") if n] or list(GENERATORS)
    unknown = sorted(set(only) - set(GENERATORS))
    if unknown:
        parser.error(f"unknown generators {unknown}; choose from {sorted(GENERATORS)}")
    write_result("scorer_fuzz", run(args.per_generator, only, args.seed), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
