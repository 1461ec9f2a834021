"""Realistic ~1 KB drafts for benchmarks: a customer email grounded in an order and a policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hitl_schemas import Draft, DraftContext, ProducerInfo, SourceDocument

NAMES = ["Dana", "Sam", "Priya", "Jonas", "Maria", "Wei", "Omar", "Lena"]
PRODUCTS = ["walnut desk", "standing lamp", "espresso machine", "wool rug", "office chair"]
TYPES = ["customer_email", "chat_reply", "refund_offer", "legal_clause"]


def draft(i: int, rng: random.Random) -> Draft:
    name, product = rng.choice(NAMES), rng.choice(PRODUCTS)
    order, amount, days = 4000 + i, rng.randint(20, 900), rng.choice([14, 30])
    defect = rng.random() < 0.1
    quoted_days = days * 2 if defect else days
    text = (
        f"Hi {name},\n\nThank you for getting in touch about order #{order}, your {product}. "
        f"I am sorry it has not arrived as you hoped. The carrier scanned it on 3 November and "
        f"expects delivery within 5 business days. If it does not suit you, section 4.2 of our "
        f"returns policy lets you return it within {quoted_days} days of delivery, and we will "
        f"refund the full {amount}.00 EUR to your original payment method once it is back with "
        f"us. You can start a return from the orders page of your account; the label is free. "
        f"If the parcel is damaged, please send us a photo and we will sort it out the same day. "
        f"While you wait, you can follow the parcel from the tracking link in your confirmation "
        f"email; the carrier updates it every few hours, and you can choose a neighbour or a "
        f"pick-up point if you will not be at home on the day. Our team is here seven days a "
        f"week if anything else comes up. "
        f"Thank you again for your patience and for shopping with us.\n\nKind regards,\nAlex"
    )
    return Draft(
        draft_id=f"bench-{i:07d}",
        tenant="acme",
        content_type=rng.choice(TYPES),
        text=text,
        context=DraftContext(
            prompt="Reply to the customer about their order.",
            customer_message=f"Where is my {product}? Order {order}. Can I return it?",
            sources=[
                SourceDocument(
                    source_id="returns-policy",
                    text=f"4.2 Items may be returned within {days} days of delivery for a full "
                    "refund to the original payment method. 4.3 Return labels are free.",
                ),
                SourceDocument(
                    source_id=f"order-{order}",
                    text=f"Order {order}: {product}, {amount}.00 EUR. Shipped 3 November. "
                    "Carrier estimate 5 business days.",
                ),
            ],
        ),
        producer=ProducerInfo(
            app="support-assistant", model="gpt-x", confidence=round(rng.uniform(0.6, 0.99), 3)
        ),
        created_at=datetime.now(UTC),
    )


def drafts(n: int, seed: int = 7) -> list[Draft]:
    rng = random.Random(seed)
    return [draft(i, rng) for i in range(n)]
