"""Generate gateway/pii/data/eval_set.jsonl, the labelled set ``callgate pii test`` runs on.

    .venv/bin/pip install faker phonenumbers && .venv/bin/python -m tests.pii.generate_eval

Deterministic (one seed; Faker 40.x). Faker is needed only here, never at run time: the generated file
is committed. Every line is ``{"text": ..., "spans": [{"entity", "start", "end"}], "source": ...}`` with
character offsets; see gateway/pii/evaluation.py for the format.

What it holds: business sentences (support tickets, vendor notes, emails) carrying each of the six core
types in many formats and locales; clean business sentences with near misses (order and invoice
numbers, dates, amounts, versions, SKUs, times, tracking codes, postcodes); hand-written hard cases.
Phone numbers are drawn as valid numbers of many regions (phonenumbers) in every common format and
separator, plus Faker's own per-locale phone formats; IBANs are built for 36 countries with real check
digits; card numbers come from Faker per issuer plus 2-series Mastercard and UnionPay built here.
"""

from __future__ import annotations

import json
import os
import random
import string
from pathlib import Path
from typing import Any

import phonenumbers
from faker import Faker

from tests.pii.eval_hand import HAND_CASES, HAND_CLEAN

SEED = 20240517
OUT = Path(__file__).resolve().parents[2] / "gateway" / "pii" / "data" / "eval_set.jsonl"
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "pt_BR", "en_AU", "en_IN", "sv_SE", "pl_PL"]
PHONE_REGIONS = ["US", "CA", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "IE", "SE", "NO", "DK", "FI",
                 "PL", "PT", "AU", "NZ", "IN", "BR", "MX", "JP", "SG", "ZA", "IL", "CZ", "HK", "AE"]  # fmt: skip
IBAN_COUNTRIES = {
    # country: BBAN layout, n = digit, a = upper-case letter, c = either
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn", "ES": "n" * 20,
    "IT": "a" + "n" * 10 + "c" * 12,
    "NL": "aaaa" + "n" * 10, "BE": "n" * 12, "AT": "n" * 16, "CH": "n" * 5 + "c" * 12, "PL": "n" * 24, "PT": "n" * 21,
    "IE": "aaaa" + "n" * 14, "SE": "n" * 20, "NO": "n" * 11, "DK": "n" * 14, "FI": "n" * 14, "LU": "nnn" + "c" * 13,
    "CZ": "n" * 20, "SK": "n" * 20, "HU": "n" * 24, "RO": "aaaa" + "c" * 16, "BG": "aaaa" + "n" * 6 + "c" * 8,
    "HR": "n" * 17, "SI": "n" * 15, "GR": "n" * 7 + "c" * 16, "LT": "n" * 16, "LV": "aaaa" + "c" * 13, "EE": "n" * 16,
    "IS": "n" * 22, "MT": "aaaa" + "n" * 5 + "c" * 18, "CY": "n" * 8 + "c" * 16, "SA": "nn" + "c" * 18,
    "AE": "n" * 19, "TR": "n" * 5 + "0" + "c" * 16, "IL": "n" * 19, "BR": "n" * 23 + "a" + "c",
}  # fmt: skip
CARD_TYPES = ["visa16", "visa13", "visa19", "mastercard", "amex", "discover", "jcb16", "diners", "maestro"]

# A different seed (``CALLGATE_EVAL_SEED``) draws a held-out set, to check the detector is not fitted to this one.
SEED = int(os.environ.get("CALLGATE_EVAL_SEED", SEED))
OUT = Path(os.environ.get("CALLGATE_EVAL_OUT", OUT))
rng = random.Random(SEED)
Faker.seed(SEED)
fake = Faker(LOCALES)


def fill(template: str, values: dict[str, tuple[str, str | None]]) -> dict[str, Any]:
    """``template`` with each ``{slot}`` replaced; spans recorded for slots that carry an entity."""
    text, spans, rest = "", [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        text += before
        value, entity = values[slot]
        if entity:
            spans.append({"entity": entity, "start": len(text), "end": len(text) + len(value)})
        text += value
    return {"text": text + rest, "spans": spans}


# Values -----------------------------------------------------------------------------------------------


def phone() -> str:
    if rng.random() < 0.3:
        number = fake[rng.choice(LOCALES)].phone_number()
        return number.split("x")[0].split(" ext")[0].strip()
    region = rng.choice(PHONE_REGIONS)
    example = phonenumbers.example_number_for_type(region, rng.choice([0, 1]))  # fixed line or mobile
    assert example is not None
    nsn = phonenumbers.national_significant_number(example)
    number = example
    for _ in range(1000):
        candidate = nsn[:2] + "".join(rng.choice(string.digits) for _ in nsn[2:])
        drawn = phonenumbers.parse("+" + str(example.country_code) + candidate)
        if phonenumbers.is_valid_number(drawn):
            number = drawn
            break
    style = rng.choice(["E164", "INTERNATIONAL", "NATIONAL", "NATIONAL", "00"])
    if style == "E164":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if style == "00":
        return "00" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)[1:]
    fmt = (
        phonenumbers.PhoneNumberFormat.INTERNATIONAL
        if style == "INTERNATIONAL"
        else phonenumbers.PhoneNumberFormat.NATIONAL
    )
    text = phonenumbers.format_number(number, fmt)
    separator = rng.choice([None, None, ".", "-", " "])
    if separator and "(" not in text:
        head, _, tail = text.partition(" ") if text.startswith("+") else ("", "", text)
        tail = tail.replace(" ", separator).replace("-", separator)
        text = f"{head} {tail}" if head else tail
    return text


def card() -> str:
    kind = rng.choice([*CARD_TYPES, "mastercard2", "unionpay"])
    if kind == "mastercard2":
        digits = with_luhn(str(rng.randint(2221, 2720)) + "".join(rng.choice(string.digits) for _ in range(11)))
    elif kind == "unionpay":
        digits = with_luhn(
            "62" + str(rng.randint(2926, 9999)) + "".join(rng.choice(string.digits) for _ in range(rng.choice([9, 12])))
        )
    else:
        digits = fake["en_US"].credit_card_number(kind)
    grouping = rng.choice(["none", "4", "4", "amex"])
    separator = rng.choice([" ", "-"])
    if grouping == "none":
        return digits
    if grouping == "amex" and len(digits) == 15:
        return separator.join([digits[:4], digits[4:10], digits[10:]])
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def with_luhn(partial: str) -> str:
    for check in string.digits:
        candidate = partial + check
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def iban() -> str:
    if rng.random() < 0.25:
        value = fake[rng.choice(["de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "pl_PL", "en_GB", "pt_BR"])].iban()
    else:
        country = rng.choice(sorted(IBAN_COUNTRIES))
        bban = "".join(
            rng.choice(
                string.digits
                if c == "n"
                else string.ascii_uppercase
                if c == "a"
                else string.digits + string.ascii_uppercase
            )
            if c in "nac"
            else c
            for c in IBAN_COUNTRIES[country]
        )
        number = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
        value = f"{country}{98 - number % 97:02d}{bban}"
    style = rng.random()
    if style < 0.45:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if style < 0.5:
        return value.lower()
    return value


def ssn() -> str:
    value = fake["en_US"].ssn()
    return value if rng.random() < 0.8 else value.replace("-", " ")


def ip() -> str:
    choice = rng.random()
    if choice < 0.45:
        return fake["en_US"].ipv4_public() if rng.random() < 0.7 else fake["en_US"].ipv4_private()
    if choice < 0.55:
        return fake["en_US"].ipv4(network=True)
    value = fake["en_US"].ipv6()
    if choice < 0.8:
        groups = value.split(":")
        start = rng.randint(1, 4)
        groups[start : start + rng.randint(2, 3)] = [""]
        value = ":".join(groups)
    return value


def email() -> str:
    name = fake[rng.choice(LOCALES)].name().lower()
    parts = [p.strip(".") for p in name.replace("'", "").split() if p.strip(".")]
    local = rng.choice([".".join(parts), parts[0][0] + parts[-1], parts[-1] + "+billing", "_".join(parts)])
    local = local.encode("ascii", "ignore").decode() or "user"
    domain = rng.choice(
        [fake["en_US"].domain_name(), fake["de_DE"].free_email_domain(), "mail.example.co.uk", "corp.acme.io"]
    )
    return local + "@" + domain if rng.random() < 0.8 else fake[rng.choice(LOCALES)].email()


GENERATORS = {"EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "US_SSN": ssn, "IBAN_CODE": iban,
              "IP_ADDRESS": ip}  # fmt: skip

# Templates --------------------------------------------------------------------------------------------

TEMPLATES = {
    "EMAIL_ADDRESS": [
        "Hi team, please loop in {name} ({v}) on ticket #{ticket} before Friday.",
        "Vendor note: invoices go to {v}, not to the old accounts address.",
        "Customer {name} wrote from {v} asking for a refund of {amount}.",
        "From: {v}\nSubject: Re: order {order}",
        "Can you reset the password for {v}? They are locked out since {date}.",
        "cc {v} on the renewal quote, they sign off on anything over {amount}.",
        "The bounce came back for <{v}>; maybe a typo in the CRM record.",
        "Escalated to {v} per the on-call rota.",
    ],
    "PHONE_NUMBER": [
        "Customer asked for a callback on {v} after 3pm.",
        "Vendor contact: {name}, tel. {v}, accounts payable.",
        "Please call {name} at {v} about order {order}.",
        "New mobile number for the delivery driver: {v}",
        "Left a voicemail on {v}; no answer yet.",
        "{name} can be reached on {v} during office hours.",
        "Fax the signed form to {v} or upload it to the portal.",
        "Caller ID showed {v} for ticket #{ticket}.",
    ],
    "CREDIT_CARD": [
        "Customer read out the card number {v} over the phone, please void it.",
        "Payment failed for card {v}, expiry {exp}.",
        "Refund {amount} to the card ending in the number {v}.",
        "Ticket #{ticket}: charge disputed on {v}.",
        "Corporate card {v} is to be used for the conference booking.",
        "The customer pasted {v} into the chat, mask it before export.",
    ],
    "US_SSN": [
        "Employee {name}, SSN {v}, needs a corrected W-2.",
        "Background check submitted with social security number {v}.",
        "Payroll flagged a mismatch on SSN {v} for {name}.",
        "Please verify the SSN ({v}) on the onboarding form.",
        "The applicant's social security no. is {v}.",
    ],
    "IBAN_CODE": [
        "Vendor bank details updated: IBAN {v}, BIC on file.",
        "Please wire {amount} to {v} by the end of the month.",
        "Supplier {company} changed their account to {v}.",
        "Refund goes to IBAN {v} (account holder {name}).",
        "Standing order {order} debits {v} monthly.",
        "Beneficiary account: {v}",
    ],
    "IP_ADDRESS": [
        "Login attempts from {v} were blocked by the WAF.",
        "The VPN handed out {v} to {name}'s laptop.",
        "Ticket #{ticket}: customer cannot reach the API from {v}.",
        "Allowlist {v} for the vendor's SFTP job.",
        "Suspicious traffic originated at {v} around {time}.",
        "Server {v} returned 502 during the deploy of release {version}.",
    ],
}
MULTI = [
    "Contact {name} at {EMAIL_ADDRESS} or {PHONE_NUMBER} about the invoice {invoice}.",
    "Supplier {company}: IBAN {IBAN_CODE}, remittance advice to {EMAIL_ADDRESS}.",
    "Fraud report: card {CREDIT_CARD} used from {IP_ADDRESS} at {time}.",
    "HR file for {name}: SSN {US_SSN}, phone {PHONE_NUMBER}.",
    "Order {order} placed from {IP_ADDRESS}, confirmation sent to {EMAIL_ADDRESS}.",
]
CLEAN = [
    "Order {order} shipped on {date} and should arrive by {date2}.",
    "Invoice {invoice} for {amount} is due on {iso_date}.",
    "We upgraded the cluster to version {version} last night.",
    "SKU {sku} is back in stock at the {city} warehouse.",
    "The meeting moved to {time} on {iso_date}; room {room}.",
    "Tracking code {tracking} shows the parcel in transit.",
    "Ship to {street}, {postcode} {city}.",
    "Quarterly revenue came in at {amount}, up {percent}% on last year.",
    "Ticket #{ticket} closed: the customer confirmed the fix in build {build}.",
    "PO {po} approved for {quantity} units at {amount} each.",
    "Release {version} fixes the timeout reported in case {case}.",
    "Batch {batch} expires on {date}; lot {lot} is unaffected.",
    "The contract {contract} renews on {iso_date} for {amount} per year.",
    "Reference {reference} was paid on {date} ({amount}).",
    "Flight {flight} departs at {time} from gate {gate}.",
    "Please restock {quantity} units of {sku} before {date}.",
    "Deploy {version} went out at {time} UTC; rollback window until {time2}.",
    "Error code {error} appeared {quantity} times between {time} and {time2}.",
    "The warehouse in {city} processed {quantity} orders on {date}.",
    "Our account manager {name} will visit {company} on {date}.",
    "Case {case} is waiting on the customer since {iso_date}.",
    "Patch {version} is scheduled for the maintenance window on {date}.",
    "Credit note {invoice} issued for {amount} against order {order}.",
    "Room {room} is booked from {time} to {time2} on {date}.",
    "Shipment {tracking} cleared customs in {city} on {iso_date}.",
    "Model {sku} weighs {weight} kg and ships in box size {box}.",
    "The SLA is {percent}% uptime measured over {quantity} days.",
    "Timestamp {timestamp} marks the start of the incident.",
    "Our VAT rate changed to {percent}% from {iso_date}.",
    "Serial {serial} was registered on {date} under order {order}.",
]


def near_miss(slot: str) -> str:
    r = rng
    d = lambda n: "".join(r.choice(string.digits) for _ in range(n))  # noqa: E731
    u = lambda n: "".join(r.choice(string.ascii_uppercase) for _ in range(n))  # noqa: E731
    values = {
        "order": lambda: r.choice(
            [f"ORD-{r.randint(2019, 2025)}-{d(6)}", f"#{d(6)}", f"{d(8)}", f"SO{d(7)}", f"A{d(9)}"]
        ),
        "invoice": lambda: r.choice(
            [f"INV-{d(5)}", f"INV{r.randint(2019, 2025)}/{d(4)}", f"{r.randint(2019, 2025)}-{d(5)}", f"RE-{d(8)}"]
        ),
        "date": lambda: fake["en_US"].date(r.choice(["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y", "%d %b %Y"])),
        "date2": lambda: fake["en_US"].date("%d.%m.%Y"),
        "iso_date": lambda: fake["en_US"].date("%Y-%m-%d"),
        "amount": lambda: r.choice(
            [
                f"${r.randint(1, 99999):,}.{d(2)}",
                f"€{r.randint(1000, 9999999):,}".replace(",", "."),
                f"{r.randint(100, 999999)} EUR",
                f"£{r.randint(1, 9999)}.{d(2)}",
                f"USD {r.randint(1, 9_999_999):,}",
            ]
        ),
        "version": lambda: r.choice(
            [
                f"{r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
                f"v{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 999)}",
                f"{r.randint(1, 5)}.{r.randint(0, 9)}.{r.randint(0, 9)}-rc{r.randint(1, 5)}",
            ]
        ),
        "sku": lambda: r.choice(
            [f"{u(2)}{d(2)}-{u(2)}-{u(3)}", f"SKU-{d(6)}", f"{u(3)}-{d(4)}-{d(2)}", f"{d(3)}-{d(3)}-{u(2)}"]
        ),
        "time": lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
        "time2": lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
        "tracking": lambda: r.choice(
            [f"1Z{u(3)}{d(3)}{u(2)}{d(8)}", f"9400{d(18)}", f"JD{d(16)}", f"{d(12)}", f"LX{d(9)}CN"]
        ),
        "postcode": lambda: r.choice(
            [
                d(5),
                f"{d(5)}-{d(4)}",
                f"{u(2)}{r.randint(1, 9)} {r.randint(1, 9)}{u(2)}",
                f"{d(4)} {u(2)}",
                f"{d(2)}-{d(3)}",
            ]
        ),
        "city": lambda: fake[r.choice(LOCALES)].city(),
        "street": lambda: fake[r.choice(["en_US", "en_GB", "de_DE", "fr_FR"])].street_address().replace("\n", ", "),
        "percent": lambda: f"{r.randint(1, 99)}.{r.randint(0, 9)}",
        "ticket": lambda: d(r.choice([5, 6, 7])),
        "build": lambda: r.choice([d(5), f"{r.randint(2019, 2025)}.{d(2)}.{d(2)}.{d(3)}", f"{d(4)}.{d(4)}"]),
        "po": lambda: f"PO-{d(7)}",
        "quantity": lambda: str(r.randint(2, 125000)),
        "case": lambda: f"{u(2)}-{d(6)}",
        "batch": lambda: f"B{d(6)}",
        "lot": lambda: f"{d(4)}-{u(1)}{d(2)}",
        "contract": lambda: f"C-{r.randint(2019, 2025)}-{d(4)}",
        "reference": lambda: r.choice([f"RF{d(2)}{d(10)}", f"REF {d(4)} {d(4)}", f"{d(3)}/{d(3)}/{d(4)}"]),
        "flight": lambda: f"{u(2)}{r.randint(100, 9999)}",
        "gate": lambda: f"{u(1)}{r.randint(1, 60)}",
        "error": lambda: r.choice([f"0x{d(8)}", f"E{d(4)}", f"ERR-{d(3)}-{d(3)}"]),
        "room": lambda: f"{r.randint(1, 12)}.{r.randint(1, 40):02d}",
        "weight": lambda: f"{r.randint(1, 80)}.{d(1)}",
        "box": lambda: f"{r.randint(20, 80)}x{r.randint(20, 80)}x{r.randint(10, 60)}",
        "timestamp": lambda: (
            f"{fake['en_US'].date('%Y-%m-%d')}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
        ),
        "serial": lambda: f"SN{d(10)}",
        "name": lambda: fake[r.choice(LOCALES)].name(),
        "company": lambda: fake[r.choice(LOCALES)].company(),
        "exp": lambda: f"{r.randint(1, 12):02d}/{r.randint(25, 31)}",
    }
    return values[slot]()


def slots_of(template: str) -> list[str]:
    return [part.partition("}")[0] for part in template.split("{")[1:]]


def sentence(template: str, entity_values: dict[str, str]) -> dict[str, Any]:
    values: dict[str, tuple[str, str | None]] = {}
    for slot in slots_of(template):
        if slot == "v":
            continue
        if slot in GENERATORS:
            values[slot] = (entity_values.get(slot) or GENERATORS[slot](), slot)
        else:
            values[slot] = (near_miss(slot), None)
    if "v" in entity_values:
        values["v"] = (entity_values["v"], entity_values["entity"])
    return fill(template, values)


def main() -> None:
    rows: list[dict[str, Any]] = []
    for entity, templates in TEMPLATES.items():
        for i in range(130):
            row = sentence(templates[i % len(templates)], {"v": GENERATORS[entity](), "entity": entity})
            rows.append({**row, "source": "generated"})
    for i in range(60):
        rows.append({**sentence(MULTI[i % len(MULTI)], {}), "source": "generated"})
    for i in range(420):
        rows.append({**sentence(CLEAN[i % len(CLEAN)], {}), "source": "generated-clean"})
    for text, spans in HAND_CASES:
        rows.append({"text": text, "spans": [locate(text, value, entity) for entity, value in spans], "source": "hand"})
    rows.extend({"text": text, "spans": [], "source": "hand-clean"} for text in HAND_CLEAN)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} sentences -> {OUT}")


def locate(text: str, value: str, entity: str) -> dict[str, Any]:
    start = text.index(value)
    return {"entity": entity, "start": start, "end": start + len(value)}


if __name__ == "__main__":
    main()
