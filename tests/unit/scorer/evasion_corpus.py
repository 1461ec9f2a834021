"""Evasion corpus (issue 15 item 5): ways to write personal data and offensive words so that a
pattern misses them while a reviewer (or the customer) still reads them, and clean look-alikes
that must not be flagged (a clean customer email must stay auto-approvable).

Each PII case is (text, kind, what the span must cover in the original text); each toxic case is
(text, the offensive word as written). test_evasion.py runs them all.
"""

from __future__ import annotations

ZW = "\u200b"  # zero-width space

PII_CAUGHT: list[tuple[str, str, str]] = [
    # e-mail
    ("Write to jane.doe@example.com today.", "email", "jane.doe@example.com"),
    ("Write to jane.doe [at] example [dot] com today.", "email", "jane.doe [at] example [dot] com"),
    ("Write to jane.doe(at)example(dot)com today.", "email", "jane.doe(at)example(dot)com"),
    ("Write to JANE.DOE{AT}EXAMPLE{DOT}COM today.", "email", "JANE.DOE{AT}EXAMPLE{DOT}COM"),
    ("Write to jane.doe at example dot com today.", "email", "jane.doe at example dot com"),
    ("Write to dana at example dot co dot uk today.", "email", "dana at example dot co dot uk"),
    ("Write to jane.doe at example.com today.", "email", "jane.doe at example.com"),
    ("Write to jsmith at gmail.com today.", "email", "jsmith at gmail.com"),
    ("Write to jane @ example.com today.", "email", "jane @ example.com"),
    ("Write to jane.doe＠example．com today.", "email", "jane.doe＠example．com"),
    (f"Write to jane.doe@exa{ZW}mple.com today.", "email", f"jane.doe@exa{ZW}mple.com"),
    ("Write to j a n e @ example.com today.", "email", "j a n e @ example.com"),
    # phone numbers, international (phonenumbers) and national
    ("Call +44 20 7946 0958 today.", "phone", "+44 20 7946 0958"),
    ("Call +1 (415) 555-2671 today.", "phone", "+1 (415) 555-2671"),
    ("Call 0044 20 7946 0958 today.", "phone", "0044 20 7946 0958"),
    ("Call +33 1 23 45 67 89 today.", "phone", "+33 1 23 45 67 89"),
    ("Call +49 30 901820 today.", "phone", "+49 30 901820"),
    ("Call +91 98765 43210 today.", "phone", "+91 98765 43210"),
    ("Call +44 (0) 20 7946 0958 today.", "phone", "+44 (0) 20 7946 0958"),
    ("Call +٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨ today.", "phone", "+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨"),
    ("Call +४४ २० ७९४६ ०९५८ today.", "phone", "+४४ २० ७९४६ ०९५८"),
    ("Call ＋４４ ２０ ７９４６ ０９５８ today.", "phone", "＋４４ ２０ ７９４６ ０９５８"),
    (f"Call +44 20{ZW}7946{ZW}0958 today.", "phone", f"+44 20{ZW}7946{ZW}0958"),
    ("Call +4.4.2.0.7.9.4.6.0.9.5.8 today.", "phone", "+4.4.2.0.7.9.4.6.0.9.5.8"),
    ("Call (555) 123-4567 today.", "phone", "(555) 123-4567"),
    ("Call 555.123.4567 today.", "phone", "555.123.4567"),
    ("Call 5 5 5 1 2 3 4 5 6 7 today.", "phone", "5 5 5 1 2 3 4 5 6 7"),
    # payment cards (Luhn, issuer prefix)
    ("Card 4111 1111 1111 1111 on file.", "card_number", "4111 1111 1111 1111"),
    ("Card 4111111111111111 on file.", "card_number", "4111111111111111"),
    ("Card 4 1 1 1-1111-1111 1111 on file.", "card_number", "4 1 1 1-1111-1111 1111"),
    ("Card 4111.1111.1111.1111 on file.", "card_number", "4111.1111.1111.1111"),
    ("Card 4111 - 1111 - 1111 - 1111 on file.", "card_number", "4111 - 1111 - 1111 - 1111"),
    (
        "Card ４１１１ １１１１ １１１１ １１１１ on file.",
        "card_number",
        "４１１１ １１１１ １１１１ １１１１",
    ),
    ("Card ٤١١١ ١١١١ ١١١١ ١١١١ on file.", "card_number", "٤١١١ ١١١١ ١١١١ ١١١١"),
    (f"Card 4111{ZW}1111{ZW}1111{ZW}1111 on file.", "card_number", f"4111{ZW}1111{ZW}1111{ZW}1111"),
    ("Card 4111\u20131111\u20131111\u20131111 on file.", "card_number", "4111–1111–1111–1111"),
    ("Card 5555 5555 5555 4444 on file.", "card_number", "5555 5555 5555 4444"),
    (
        "Cards 4111 1111 1111 1111 5555 5555 5555 4444 on file.",
        "card_number",
        "5555 5555 5555 4444",
    ),
    ("Card 3782 822463 10005 on file.", "card_number", "3782 822463 10005"),
    # IBAN (stdnum)
    ("Pay GB82 WEST 1234 5698 7654 32 by Friday.", "iban", "GB82 WEST 1234 5698 7654 32"),
    ("Pay GB82WEST12345698765432 by Friday.", "iban", "GB82WEST12345698765432"),
    ("Pay gb82 west 1234 5698 7654 32 by friday.", "iban", "gb82 west 1234 5698 7654 32"),
    ("Pay DE89-3704-0044-0532-0130-00 by Friday.", "iban", "DE89-3704-0044-0532-0130-00"),
    (
        "Pay FR14 2004 1010 0505 0001 3M02 606 by Friday.",
        "iban",
        "FR14 2004 1010 0505 0001 3M02 606",
    ),
    (
        "Pay G B 8 2 W E S T 1 2 3 4 5 6 9 8 7 6 5 4 3 2 by Friday.",
        "iban",
        "G B 8 2 W E S T 1 2 3 4 5 6 9 8 7 6 5 4 3 2",
    ),
    (
        "Pay ＧＢ８２ ＷＥＳＴ １２３４ ５６９８ ７６５４ ３２ by Friday.",
        "iban",
        "ＧＢ８２ ＷＥＳＴ １２３４ ５６９８ ７６５４ ３２",
    ),
    # national ids
    ("Her SSN is 123-45-6789.", "national_id_us_ssn", "123-45-6789"),
    ("Her SSN 123-45-6789 2 days ago.", "national_id_us_ssn", "123-45-6789"),
    ("Her SSN is 123 45 6789.", "national_id_us_ssn", "123 45 6789"),
    ("Her SSN is 123.45.6789.", "national_id_us_ssn", "123.45.6789"),
    ("Her SSN: 123456789.", "national_id_us_ssn", "123456789"),
    ("Her SSN is 1 2 3 - 4 5 - 6 7 8 9.", "national_id_us_ssn", "1 2 3 - 4 5 - 6 7 8 9"),
    ("Her SSN is ١٢٣-٤٥-٦٧٨٩.", "national_id_us_ssn", "١٢٣-٤٥-٦٧٨٩"),
    ("Her SSN is 123‐45‐6789.", "national_id_us_ssn", "123‐45‐6789"),
    (f"Her SSN is 123{ZW}-45-{ZW}6789.", "national_id_us_ssn", f"123{ZW}-45-{ZW}6789"),
    ("NI number AB 12 34 56 C on the form.", "national_id_uk_nino", "AB 12 34 56 C"),
    ("NI number AB123456C on the form.", "national_id_uk_nino", "AB123456C"),
    ("NI number AB-12-34-56-C on the form.", "national_id_uk_nino", "AB-12-34-56-C"),
    ("NIR 2 95 10 99 126 111 93 on file.", "national_id_fr_nir", "2 95 10 99 126 111 93"),
    (
        "Codice fiscale RSSMRA85T10A562S on file.",
        "national_id_it_codice_fiscale",
        "RSSMRA85T10A562S",
    ),
    (
        "Codice fiscale rssmra85t10a562s on file.",
        "national_id_it_codice_fiscale",
        "rssmra85t10a562s",
    ),
    ("DNI 12345678Z on file.", "national_id_es_dni", "12345678Z"),
    ("NIE X1234567L on file.", "national_id_es_dni", "X1234567L"),
    # text that reads differently on screen than in the string
    ("Refund \u202eDSU 0005\u202c approved.", "bidi_control", "\u202e"),
    ("Refund \u2067approved\u2069 today.", "bidi_control", "\u2067"),
]

TOXIC_CAUGHT: list[tuple[str, str]] = [
    ("What a piece of shit.", "shit"),
    ("What a piece of sh1t.", "sh1t"),
    ("What a piece of sh!t.", "sh!t"),
    ("What a piece of $hit.", "$hit"),
    ("What a piece of 5h1t.", "5h1t"),
    ("What a piece of sh*t.", "sh*t"),
    ("What a piece of s h i t.", "s h i t"),
    ("What a piece of s.h.i.t.", "s.h.i.t"),
    ("What a piece of s-h-i-t.", "s-h-i-t"),
    ("What a piece of ѕhіt.", "ѕhіt"),  # Cyrillic dze and i
    (f"What a piece of sh{ZW}it.", f"sh{ZW}it"),
    ("What a piece of s\u0336h\u0336i\u0336t\u0336.", "s\u0336h\u0336i\u0336t\u0336"),
    ("What a piece of ＳＨＩＴ.", "ＳＨＩＴ"),
    ("What a piece of sh\u00adit.", "sh\u00adit"),  # soft hyphen
    ("Go f*ck yourself.", "f*ck"),
    ("Go f**k yourself.", "f**k"),
    ("Go f u c k yourself.", "f u c k"),
    ("Go f.u.c.k yourself.", "f.u.c.k"),
    ("Go fück yourself.", "fück"),
    ("You are an @sshole.", "@sshole"),
    ("You are an a$$hole.", "a$$hole"),
    ("You are a b1tch.", "b1tch"),
    ("You are a b!tch.", "b!tch"),
    ("You are an 1d10t.", "1d10t"),
    ("You are a m0r0n.", "m0r0n"),
    ("Thanks for writing. " * 450 + "You are an idiot.", "idiot"),  # past sentence 400
]

# Clean customer-email text that looks like PII or an insult to a careless pattern.
CLEAN: list[str] = [
    "Your order #48213344 is on its way.",
    "Order number 1234567890123 shipped yesterday.",
    "Tracking number 1Z999AA10123456784 is active.",
    "It shipped on 2026-11-03 and arrives 03.11.2026 or 11/03/2026.",
    "Delivery between 2026-11-03 and 2026-11-10, or 03.11.2026 10.11.2026.",
    "Ticket #2026-11-03-0042 is open.",
    "Version 2.3.1 fixes it; upgrade from 10.4.12 or 1.2.3.4.",
    "The total is $1,250.00 (EUR 1.250,00), was 1 250,00.",
    "Prices: 19.99, 24.99, 129.00 and 1,299.99.",
    "We are at the office at 9am; look at example.com for hours.",
    "Visit us at example.com or call at noon.",
    "Our 24/7 support at support.example.com can help.",
    "I'm at home, back at 5, meet me at the cafe at 10:30.",
    "Room 101, floor 2, building 3, desk 42.",
    "Your Galaxy A55 ships tomorrow with a USB-C cable.",
    "Use code SAVE20 at checkout for 20% off.",
    "The assessment of class 3 passed; Scunthorpe won the cocktail prize.",
    "Invoice INV-2026-000123 is attached.",
    "Please allow 5 to 10 business days.",
    "Model number WH-1000XM4 is in stock.",
    "IP 192.168.100.200 is blocked.",
    "ISBN 978-3-16-148410-0 is the second edition.",
    "Plan A B C, e.g. at 9 a.m. in the U.S.A.",
    "Flight BA 1234 at 10:45 from gate B12.",
    "Thanks!!! Great job!! See you at 4pm, 1st floor.",
    "Спасибо за заказ, номер ١٢٣٤٥.",
    "Thanks \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 see you soon.",
    "Rated 4.5/5 by 12,345 customers.",
    "Steps 1 2 3 4 of the guide.",
    "Sizes 8 9 10 11 12 13 14 15 and 16 are in stock.",
    "Your PIN reset code expires in 15 minutes.",
]
