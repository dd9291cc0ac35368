"""Fake personal data (names, e-mails, phones) for synthetic leads, vectorised with Arrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FIRST = [
    "Aisha",
    "Omar",
    "Priya",
    "Rahul",
    "Fatima",
    "James",
    "Olga",
    "Wei",
    "Hans",
    "Marie",
    "Chinedu",
    "Layla",
    "Ahmed",
    "Sofia",
    "Ivan",
    "Grace",
    "Yusuf",
    "Anna",
    "Carlos",
    "Mei",
    "Tariq",
    "Emma",
]
LAST = [
    "Khan",
    "Sharma",
    "Smith",
    "Al Mansoori",
    "Ivanova",
    "Chen",
    "Mueller",
    "Dubois",
    "Okafor",
    "Haddad",
    "Rossi",
    "Santos",
    "Patel",
    "Nguyen",
    "Brown",
    "Hussain",
    "Kumar",
    "Novak",
    "Yilmaz",
]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "company.ae", "mail.ru", "proton.me"]


def _pick(rng: np.random.Generator, words: list[str], n: int) -> pa.Array:
    return pc.take(pa.array(words), pa.array(rng.integers(0, len(words), n)))


def fake_pii(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """Names (1% in ``Last, First`` form, which needs CSV quoting), e-mails and UAE mobile numbers."""
    first, last = _pick(rng, FIRST, n), _pick(rng, LAST, n)
    comma = pa.array(rng.random(n) < 0.01)
    name = pc.if_else(
        comma, pc.binary_join_element_wise(last, ", ", first, ""), pc.binary_join_element_wise(first, " ", last, "")
    )
    number = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    local = pc.binary_join_element_wise(
        pc.utf8_lower(first), ".", pc.replace_substring(pc.utf8_lower(last), " ", ""), number, ""
    )
    email = pc.binary_join_element_wise(local, "@", _pick(rng, DOMAINS, n), "")
    digits = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 100_000_000, n)), pa.string()), 8, "0")
    phone = pc.binary_join_element_wise("+9715", digits, "")
    return {"full_name": name, "email": email, "phone": phone}
