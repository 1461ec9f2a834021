"""Realistic drafts per content type, and the defects a careful reviewer would catch.

Each content type writes a clean draft from facts (customer, order, amount, dates, clauses) and
the source documents that ground it. A defect rewrites the clean draft; `fixed_text` is the clean
draft, which is what a reviewer's edit restores. Some defects are visible to the scorer's signals
(a wrong amount, PII, a rude line, an unauthorised promise), some only to a human reading the
customer's question (the wrong product, an ineligible refund, an ambiguous clause): the producer's
confidence is the only hint of those.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from hitl_schemas import SourceDocument

NAMES = ["Dana", "Sam", "Priya", "Jonas", "Maria", "Wei", "Omar", "Lena", "Aoife", "Kofi"]
AGENTS = ["Alex", "Robin", "Charlie", "Kim"]
PRODUCTS = ["walnut desk", "standing lamp", "espresso machine", "wool rug", "office chair",
            "bookshelf", "kettle", "bed frame"]  # fmt: skip
MONTHS = ["March", "April", "May", "June", "September", "October", "November"]
CLAUSES = {
    "7.2": "either party may terminate this Agreement by giving written notice to the other party",
    "9.1": "the Supplier's total liability shall not exceed the fees paid in the preceding year",
    "11.4": "each party shall keep the other party's confidential information secret",
    "12.3": "neither party is liable for delays caused by events beyond its reasonable control",
}

# One plausible misquotation per clause: a word that changes what the clause obliges.
MISQUOTES = {
    "7.2": ("by giving written notice", "by giving notice"),
    "9.1": ("shall not exceed", "may exceed"),
    "11.4": ("each party shall", "the Supplier shall"),
    "12.3": ("neither party is liable", "the Supplier is not liable"),
}


@dataclass(frozen=True)
class Facts:
    name: str
    agent: str
    product: str
    other_product: str
    order: int
    amount: int
    days: int
    date: str
    section: str
    clause: str


@dataclass(frozen=True)
class Written:
    text: str
    customer_message: str
    sources: list[SourceDocument]


def facts(rng: random.Random, index: int) -> Facts:
    product, other = rng.sample(PRODUCTS, 2)
    return Facts(
        name=rng.choice(NAMES),
        agent=rng.choice(AGENTS),
        product=product,
        other_product=other,
        order=40_000 + index,
        amount=rng.randint(19, 900),
        days=rng.choice([14, 30]),
        date=f"{rng.randint(2, 27)} {rng.choice(MONTHS)}",
        section=rng.choice(["4.2", "5.1", "6.3"]),
        clause=rng.choice(sorted(CLAUSES)),
    )


def _order_record(f: Facts) -> SourceDocument:
    return SourceDocument(
        source_id=f"order-{f.order}",
        title="Order record",
        text=f"Order {f.order}: {f.product}, {f.amount}.00 EUR. Carrier estimate: delivery on "
        f"{f.date}.",
    )


def _returns_policy(f: Facts) -> SourceDocument:
    return SourceDocument(
        source_id="returns-policy",
        title="Returns and refunds policy",
        text=f"{f.section} Items may be returned within {f.days} days of delivery for a full "
        "refund to the original payment method. Return labels are free. Damaged items are "
        f"refunded within {f.days} days of the customer's photo.",
    )


def customer_email(f: Facts, rng: random.Random) -> Written:
    extra = rng.choice(
        [
            "If the parcel is damaged, please send us a photo and we will sort it out quickly.",
            "You can follow the parcel from the tracking link in your confirmation email.",
            "You can also choose a pick-up point if you will not be at home on the day.",
        ]
    )
    text = (
        f"Hi {f.name},\n\nThank you for getting in touch about order #{f.order}, your "
        f"{f.product}. I am sorry it has not arrived as you hoped. The carrier expects delivery "
        f"on {f.date}. If it does not suit you, section {f.section} of our returns policy lets "
        f"you return it within {f.days} days of delivery, and the full {f.amount}.00 EUR goes "
        f"back to your original payment method once it is back with us. {extra}\n\n"
        f"Kind regards,\n{f.agent}"
    )
    ask = f"Where is my {f.product}? Order {f.order}. Can I still return it if I change my mind?"
    return Written(text, ask, [_returns_policy(f), _order_record(f)])


def chat_reply(f: Facts, rng: random.Random) -> Written:
    close = rng.choice(["Anything else I can help with?", "Have a lovely day!", "Happy to help."])
    text = (
        f"Hi {f.name}! Your {f.product} (order #{f.order}) is on its way and should arrive on "
        f"{f.date}. You can follow it with the tracking link in your confirmation email. {close}"
    )
    return Written(
        text, f"hi, when does my {f.product} arrive? order {f.order}", [_order_record(f)]
    )


def refund_offer(f: Facts, rng: random.Random) -> Written:
    opener = rng.choice(["We are sorry", "I am very sorry", "We apologise"])
    text = (
        f"Dear {f.name},\n\n{opener} that your {f.product} arrived damaged. Under section "
        f"{f.section} of our returns policy, the full price of {f.amount}.00 EUR for order "
        f"#{f.order} goes back to your original payment method within {f.days} days of your "
        f"photo. There is no need to send the item back.\n\nBest wishes,\n{f.agent}"
    )
    ask = f"My {f.product} from order {f.order} arrived broken, photo attached. What now?"
    return Written(text, ask, [_returns_policy(f), _order_record(f)])


def legal_clause(f: Facts, rng: random.Random) -> Written:
    party = rng.choice(["The Customer", "The Supplier"])
    text = (
        f"Termination for convenience. {party} may end the services on {f.days} days' notice. "
        f'As clause {f.clause} of the Master Agreement states, "{CLAUSES[f.clause]}". '
        "Fees already paid for the current period are not refunded."
    )
    contract = " ".join(f"{number} {words}." for number, words in sorted(CLAUSES.items()))
    return Written(
        text,
        f"Draft a termination clause consistent with the master agreement ({f.days} days).",
        [
            SourceDocument(
                source_id="master-agreement",
                title="Master Agreement",
                text=f"{contract} Notice period for convenience: {f.days} days.",
            )
        ],
    )


WRITERS: dict[str, Callable[[Facts, random.Random], Written]] = {
    "customer_email": customer_email,
    "chat_reply": chat_reply,
    "refund_offer": refund_offer,
    "legal_clause": legal_clause,
}


# --- Defects -----------------------------------------------------------------------------------

Injector = Callable[[Written, Facts, random.Random], str]


def _replace_once(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"template has no {old!r} to replace")
    return text.replace(old, new, 1)


def wrong_amount(w: Written, f: Facts, rng: random.Random) -> str:
    return _replace_once(w.text, f"{f.amount}.00", f"{f.amount + rng.randint(10, 300)}.00")


def wrong_date(w: Written, f: Facts, rng: random.Random) -> str:
    if f"{f.days} days" in w.text:
        wrong = {14: rng.choice([7, 28, 60]), 30: rng.choice([60, 90, 45])}[f.days]
        return _replace_once(w.text, f"{f.days} days", f"{wrong} days")
    day, month = f.date.split(" ")
    return _replace_once(w.text, f.date, f"{int(day) + rng.randint(1, 3)} {month}")


def misquoted_clause(w: Written, f: Facts, rng: random.Random) -> str:
    if f.clause in CLAUSES and f"clause {f.clause}" in w.text:
        if rng.random() < 0.5:
            other = rng.choice([c for c in CLAUSES if c != f.clause])
            return _replace_once(w.text, f"clause {f.clause}", f"clause {other}")
        old, new = MISQUOTES[f.clause]
        return _replace_once(w.text, old, new)
    return _replace_once(w.text, f"section {f.section}", "section 8.4")


def leaked_pii(w: Written, f: Facts, rng: random.Random) -> str:
    leak = rng.choice(
        [
            "Our courier's contact, Jane Miller, is on jane.miller@gmail.com if you need her.",
            "The previous customer on this order, on +44 7700 900123, reported the same issue.",
            "I have noted the card 4111 1111 1111 1111 on file for the refund.",
        ]
    )
    return f"{w.text}\n{leak}"


def rude_tone(w: Written, f: Facts, rng: random.Random) -> str:
    line = rng.choice(
        [
            "As we already explained, this is not complicated, so please read our emails properly.",
            "Honestly, this is a stupid question and you are wasting our time.",
            "Obviously you did not bother to check the tracking page first.",
        ]
    )
    return f"{w.text}\n{line}"


def unauthorised_commitment(w: Written, f: Facts, rng: random.Random) -> str:
    line = rng.choice(
        [
            "We guarantee this will never happen again.",
            "You are legally entitled to compensation and we admit full liability.",
            "I promise you a full refund on top of a free replacement.",
        ]
    )
    return f"{w.text}\n{line}"


def wrong_product(w: Written, f: Facts, rng: random.Random) -> str:
    return _replace_once(w.text, f.product, f.other_product)


def ambiguous(w: Written, f: Facts, rng: random.Random) -> str:
    return _replace_once(w.text, "may end", "may, where reasonably practicable, end")


def not_eligible(w: Written, f: Facts, rng: random.Random) -> str:
    # The text reads fine; the fault is that this order is outside the refund window. A signal
    # cannot see it, the producer's model sometimes "knows".
    return w.text.replace("There is no need", "As a goodwill gesture, there is no need", 1)


@dataclass(frozen=True)
class DefectKind:
    name: str
    inject: Injector
    verdict: str  # what a careful reviewer does: "edit" (fixable) or "reject"
    reason_codes: tuple[str, ...]  # preferred codes, the first the policy lists wins


DEFECTS = {
    d.name: d
    for d in [
        DefectKind("wrong_amount", wrong_amount, "edit", ("wrong_amount", "factual_error")),
        DefectKind("wrong_date", wrong_date, "edit", ("wrong_date", "factual_error")),
        DefectKind(
            "misquoted_clause",
            misquoted_clause,
            "edit",
            ("misquoted_clause", "wrong_reference", "factual_error"),
        ),  # fmt: skip
        DefectKind("pii", leaked_pii, "edit", ("pii",)),
        DefectKind("rude_tone", rude_tone, "edit", ("tone",)),
        DefectKind(
            "unauthorised_commitment",
            unauthorised_commitment,
            "edit",
            ("unauthorised_commitment", "not_enforceable"),
        ),  # fmt: skip
        DefectKind("wrong_product", wrong_product, "edit", ("factual_error", "off_topic")),
        DefectKind("ambiguous", ambiguous, "edit", ("ambiguous",)),
        DefectKind("not_eligible", not_eligible, "reject", ("not_eligible",)),
    ]
}

# Which defects each content type suffers, with relative weights: about a third of them are
# invisible to the signals.
DEFECT_MIX: dict[str, dict[str, float]] = {
    "customer_email": {"wrong_amount": 2, "wrong_date": 2, "misquoted_clause": 1, "pii": 1,
                       "rude_tone": 1, "unauthorised_commitment": 1, "wrong_product": 3},
    "chat_reply": {"wrong_date": 2, "pii": 1, "rude_tone": 2, "unauthorised_commitment": 1,
                   "wrong_product": 3},
    "refund_offer": {"wrong_amount": 3, "wrong_date": 1, "unauthorised_commitment": 1,
                     "rude_tone": 1, "not_eligible": 3},
    "legal_clause": {"misquoted_clause": 4, "wrong_date": 2, "unauthorised_commitment": 1,
                     "ambiguous": 3},
}  # fmt: skip


def pick_defect(content_type: str, rng: random.Random) -> DefectKind:
    mix = DEFECT_MIX.get(content_type, DEFECT_MIX["customer_email"])
    names = sorted(mix)
    return DEFECTS[rng.choices(names, weights=[mix[n] for n in names])[0]]


def write(content_type: str, f: Facts, rng: random.Random) -> Written:
    writer = WRITERS.get(content_type, customer_email)
    return writer(f, rng)


def with_text(written: Written, text: str) -> Written:
    return replace(written, text=text)
