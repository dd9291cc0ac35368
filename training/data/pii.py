"""Fake personal data (names, e-mails, phones) for synthetic leads, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd

FIRST = ["Aisha", "Omar", "Priya", "Rahul", "Fatima", "James", "Olga", "Wei", "Hans", "Marie", "Chinedu",
         "Layla", "Ahmed", "Sofia", "Ivan", "Grace", "Yusuf", "Anna", "Carlos", "Mei", "Tariq", "Emma"]
LAST = ["Khan", "Sharma", "Smith", "Al Mansoori", "Ivanova", "Chen", "Mueller", "Dubois", "Okafor",
        "Haddad", "Rossi", "Santos", "Patel", "Nguyen", "Brown", "Hussain", "Kumar", "Novak", "Yilmaz"]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "company.ae", "mail.ru", "proton.me"]


def fake_pii(rng: np.random.Generator, lead_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Names (a few in ``Last, First`` form, which needs CSV quoting), e-mails and UAE phone numbers."""
    n = len(lead_ids)
    first = np.array(FIRST, dtype=object)[rng.integers(0, len(FIRST), n)]
    last = np.array(LAST, dtype=object)[rng.integers(0, len(LAST), n)]
    first_s, last_s = pd.Series(first), pd.Series(last)
    comma = rng.random(n) < 0.01
    name = np.where(comma, (last_s + ", " + first_s).to_numpy(), (first_s + " " + last_s).to_numpy())
    suffix = pd.Series(lead_ids).str.replace(r"\D", "", regex=True).str[-6:]
    local = (first_s.str.lower() + "." + last_s.str.lower().str.replace(" ", "", regex=False) + suffix)
    email = (local + "@" + pd.Series(np.array(DOMAINS, dtype=object)[rng.integers(0, len(DOMAINS), n)])).to_numpy()
    digits = pd.Series(rng.integers(0, 10_000_000, n)).astype(str).str.zfill(7)
    phone = ("+9715" + pd.Series(rng.integers(0, 10, n)).astype(str) + digits).to_numpy()
    return {"full_name": name.astype(object), "email": email.astype(object), "phone": phone.astype(object)}
