"""Vectorised sampling of synthetic free-zone leads and their ground-truth conversion probability.

Everything here is numpy, driven by one ``np.random.Generator``, so a seed fixes the whole data set.
Categories come from the feature spec (``crm_freezone``); the weights below describe the business.
The ground truth is a logistic function of the lead's features (CRM columns and point-in-time event
counts) with interactions; it is never written as a feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore_core import stats
from leadscore_core.contract import FeatureSpec

DAY = 86_400

DRIFTS = ("source_mix", "engagement", "concept")
"""Drift kinds: ``source_mix`` and ``engagement`` shift the inputs, ``concept`` the input -> label function."""


def drift_kinds(drift: str | None) -> tuple[str, ...]:
    """The kinds in a drift knob: ``None`` -> ``()``, ``"source_mix+concept"`` -> both, in the given order.

    Raises:
        ValueError: an empty or unknown part, or a kind named twice (the message names the part).
    """
    if drift is None:
        return ()
    parts = tuple(part.strip() for part in drift.split("+"))
    for part in parts:
        if part not in DRIFTS:
            raise ValueError(
                f"--drift: unknown kind {part!r} in {drift!r}; kinds are {', '.join(DRIFTS)}, "
                "combined with '+' (e.g. source_mix+concept)"
            )
    if len(set(parts)) != len(parts):
        raise ValueError(f"--drift: a kind is named twice in {drift!r}")
    return parts


SOURCE_WEIGHTS = {
    "website": 0.22,
    "paid_search": 0.16,
    "social": 0.12,
    "referral": 0.10,
    "partner": 0.08,
    "event": 0.06,
    "email_campaign": 0.09,
    "chatbot": 0.07,
    "walk_in": 0.04,
    "cold_call": 0.06,
}
# source_mix drift moves leads towards cheap digital sources and away from referrals/partners
SOURCE_WEIGHTS_DRIFTED = {
    "website": 0.16,
    "paid_search": 0.24,
    "social": 0.30,
    "referral": 0.03,
    "partner": 0.02,
    "event": 0.02,
    "email_campaign": 0.05,
    "chatbot": 0.14,
    "walk_in": 0.01,
    "cold_call": 0.03,
}
# P(channel | source), channels in spec order: web_form, phone, whatsapp, email, in_person
CHANNEL_GIVEN_SOURCE = {
    "website": [0.70, 0.10, 0.12, 0.08, 0.00],
    "paid_search": [0.75, 0.08, 0.12, 0.05, 0.00],
    "social": [0.45, 0.05, 0.45, 0.05, 0.00],
    "referral": [0.20, 0.35, 0.25, 0.10, 0.10],
    "partner": [0.15, 0.30, 0.15, 0.30, 0.10],
    "event": [0.15, 0.20, 0.15, 0.10, 0.40],
    "email_campaign": [0.30, 0.05, 0.05, 0.60, 0.00],
    "chatbot": [0.30, 0.00, 0.70, 0.00, 0.00],
    "walk_in": [0.00, 0.05, 0.05, 0.00, 0.90],
    "cold_call": [0.00, 0.85, 0.10, 0.05, 0.00],
}
NATIONALITY_WEIGHTS = [
    0.20,
    0.09,
    0.10,
    0.04,
    0.05,
    0.06,
    0.08,
    0.05,
    0.04,
    0.04,
    0.03,
    0.05,
    0.03,
    0.03,
    0.03,
    0.02,
    0.02,
    0.02,
    0.01,
    0.01,
]
ACTIVITY_WEIGHTS = [0.20, 0.16, 0.13, 0.06, 0.11, 0.07, 0.06, 0.06, 0.04, 0.04, 0.03, 0.04]
# license type (commercial, professional, industrial, freelance, ecommerce) by activity
LICENSE_GIVEN_ACTIVITY = {
    "trading": [0.85, 0.05, 0.05, 0.00, 0.05],
    "consulting": [0.10, 0.70, 0.00, 0.20, 0.00],
    "ecommerce": [0.20, 0.00, 0.00, 0.05, 0.75],
    "media": [0.20, 0.45, 0.00, 0.35, 0.00],
    "it_services": [0.10, 0.55, 0.00, 0.30, 0.05],
    "logistics": [0.75, 0.05, 0.20, 0.00, 0.00],
    "real_estate": [0.70, 0.30, 0.00, 0.00, 0.00],
    "food_beverage": [0.80, 0.00, 0.15, 0.00, 0.05],
    "education": [0.15, 0.75, 0.00, 0.10, 0.00],
    "healthcare": [0.20, 0.80, 0.00, 0.00, 0.00],
    "manufacturing": [0.20, 0.00, 0.80, 0.00, 0.00],
    "tourism": [0.70, 0.20, 0.00, 0.10, 0.00],
}
SIZE_WEIGHTS = [0.38, 0.32, 0.18, 0.08, 0.04]


@dataclass
class Leads:
    """Column arrays of the sampled leads (true values, before missing values and corruption)."""

    n: int
    created_s: np.ndarray
    """Creation time, epoch seconds (int64), sorted ascending."""
    cat: dict[str, np.ndarray]
    """Categorical feature -> object array of category strings."""
    num: dict[str, np.ndarray]
    """Numeric CRM feature -> float array."""
    has_existing_company: np.ndarray
    engagement: np.ndarray
    """Latent engagement intensity (drives web events)."""


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: ``probs`` is (n, k), rows sum to 1; returns column indices."""
    cum = np.cumsum(probs, axis=1)
    u = np.asarray(rng.random(probs.shape[0]))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _weights(cats: list[str], table: dict[str, float]) -> np.ndarray:
    w = np.array([table.get(c, 0.0) for c in cats], dtype=float)
    return w / w.sum()


def sample_leads(
    spec: FeatureSpec,
    rng: np.random.Generator,
    n: int,
    start_s: int,
    months: int,
    drift: str | None,
    strength: float,
) -> Leads:
    """Sample ``n`` leads created between ``start_s`` and ``start_s + months * 30 days``.

    Args:
        spec: the ``crm_freezone`` contract (category vocabularies).
        rng: the seeded generator.
        n: number of distinct leads.
        start_s: epoch seconds of the first possible creation time.
        months: span of creation times in 30-day months.
        drift: a kind or ``+``-joined kinds (:func:`drift_kinds`); ``source_mix`` and ``engagement`` shift
            the inputs here, ``concept`` acts in :func:`true_logit`.
        strength: drift strength (0 = none, 1 = full shift).
    """
    cats = {f.name: list(f.vocab or []) for f in spec.features if f.type == "categorical"}
    span = months * 30 * DAY
    created = np.sort(start_s + (rng.random(n) * span).astype(np.int64))
    # weekday/business-hours shape: nudge a third of leads into 09:00-18:00 local (UTC+4)
    day0 = created - created % DAY
    busy = rng.random(n) < 0.35
    created = np.where(busy, day0 + (5 + rng.random(n) * 9) * 3600, created).astype(np.int64)
    created.sort()

    kinds = drift_kinds(drift)
    src_cats = cats["lead_source"]
    w_src = _weights(src_cats, SOURCE_WEIGHTS)
    if "source_mix" in kinds:
        s = min(max(strength, 0.0), 1.0)
        w_src = (1 - s) * w_src + s * _weights(src_cats, SOURCE_WEIGHTS_DRIFTED)
    src_idx = rng.choice(len(src_cats), size=n, p=w_src)
    source = np.array(src_cats, dtype=object)[src_idx]

    chan_cats = cats["channel"]
    chan_p = np.array([CHANNEL_GIVEN_SOURCE[c] for c in src_cats], dtype=float)[src_idx]
    channel = np.array(chan_cats, dtype=object)[_pick(rng, chan_p)]

    # campaign follows the calendar; partners push their own campaign
    camp_cats = cats["campaign"]
    month = ((created - start_s) // (30 * DAY)) % 12
    camp_p = np.tile(np.array([0.35, 0.30, 0.0, 0.0, 0.08, 0.0, 0.0, 0.0]), (n, 1))
    camp_p[:, camp_cats.index("q1_launch")] += np.where(month < 3, 0.30, 0.0)
    camp_p[:, camp_cats.index("ramadan_offer")] += np.where((month >= 2) & (month < 4), 0.20, 0.0)
    camp_p[:, camp_cats.index("summer_promo")] += np.where((month >= 5) & (month < 8), 0.30, 0.0)
    camp_p[:, camp_cats.index("year_end")] += np.where(month >= 10, 0.30, 0.0)
    camp_p[:, camp_cats.index("partner_push")] += np.where(source == "partner", 0.6, 0.02)
    camp_p[:, camp_cats.index("expo")] += np.where(source == "event", 0.6, 0.0)
    campaign = np.array(camp_cats, dtype=object)[_pick(rng, camp_p)]

    nat_cats = cats["nationality"]
    nationality = np.array(nat_cats, dtype=object)[rng.choice(len(nat_cats), size=n, p=NATIONALITY_WEIGHTS)]
    res_cats = cats["country_of_residence"]
    u = rng.random(n)
    residence = np.where(
        u < 0.45,
        "AE",
        np.where(u < 0.85, nationality, np.array(res_cats, dtype=object)[rng.integers(0, len(res_cats), n)]),
    ).astype(object)

    act_cats = cats["business_activity"]
    act_idx = rng.choice(len(act_cats), size=n, p=ACTIVITY_WEIGHTS)
    activity = np.array(act_cats, dtype=object)[act_idx]
    lic_p = np.array([LICENSE_GIVEN_ACTIVITY[a] for a in act_cats], dtype=float)[act_idx]
    license_type = np.array(cats["license_type"], dtype=object)[_pick(rng, lic_p)]

    size_idx = rng.choice(5, size=n, p=SIZE_WEIGHTS)
    company_size = np.array(cats["company_size"], dtype=object)[size_idx]
    # bigger companies want bigger offices and bring bigger budgets
    office_p = np.array(
        [
            [0.70, 0.20, 0.08, 0.02],
            [0.40, 0.35, 0.20, 0.05],
            [0.10, 0.30, 0.45, 0.15],
            [0.02, 0.18, 0.55, 0.25],
            [0.01, 0.09, 0.60, 0.30],
        ]
    )[size_idx]
    office_idx = _pick(rng, office_p)
    office = np.array(cats["office_type"], dtype=object)[office_idx]
    budget_idx = np.clip(np.round(size_idx * 0.7 + office_idx * 0.5 + rng.normal(0, 0.8, n)), 0, 4).astype(int)
    budget = np.array(cats["budget_band"], dtype=object)[budget_idx]

    visas = np.minimum(rng.poisson(np.array([1.0, 2.5, 6.0, 14.0, 25.0])[size_idx]), 50).astype(float)
    existing = rng.random(n) < 0.15 + 0.08 * size_idx

    engagement = rng.lognormal(0.0, 0.7, n) * np.where(np.isin(source, ["website", "paid_search", "chatbot"]), 1.3, 1.0)
    pages = np.clip(rng.lognormal(1.2, 0.45, n) * (0.7 + 0.3 * engagement), 1, 200)
    opens = np.minimum(rng.poisson(2.0 + 3.0 * engagement * np.where(source == "email_campaign", 2.0, 1.0)), 1000)
    clicks = np.minimum(rng.binomial(opens, np.clip(0.12 * engagement, 0.01, 0.8)), opens)
    slow = np.isin(source, ["referral", "event"])
    days_first = np.minimum(np.round(rng.exponential(np.where(slow, 25, 10), n)), 3650)
    if "engagement" in kinds:
        s = max(strength, 0.0)
        engagement = engagement * np.exp(0.9 * s)
        pages = np.clip(pages * np.exp(0.5 * s), 1, 200)
        opens = np.minimum(np.round(opens * np.exp(0.7 * s)), 1000)
        clicks = np.minimum(np.round(clicks * np.exp(0.9 * s)), opens)

    return Leads(
        n=n,
        created_s=created,
        cat={
            "lead_source": source,
            "channel": channel,
            "campaign": campaign,
            "nationality": nationality,
            "country_of_residence": residence,
            "business_activity": activity,
            "license_type": license_type,
            "company_size": company_size,
            "office_type": office,
            "budget_band": budget,
        },
        num={
            "visas_requested": visas,
            "pages_per_visit": np.round(pages, 1),
            "email_opens": opens.astype(float),
            "email_clicks": clicks.astype(float),
            "days_since_first_contact": days_first.astype(float),
        },
        has_existing_company=existing,
        engagement=engagement,
    )


def _effect(values: np.ndarray, table: dict[str, float]) -> np.ndarray:
    out = np.zeros(values.shape[0])
    for k, v in table.items():
        out += np.where(values == k, v, 0.0)
    return out


BASE_SOURCE = {
    "referral": 0.9,
    "partner": 0.7,
    "walk_in": 0.8,
    "event": 0.4,
    "paid_search": -0.1,
    "social": -0.6,
    "email_campaign": -0.3,
    "chatbot": -0.2,
    "cold_call": -0.9,
}
ALT_SOURCE = {
    "referral": -0.2,
    "partner": 0.0,
    "walk_in": 0.2,
    "event": -0.3,
    "paid_search": 0.5,
    "social": 0.6,
    "email_campaign": 0.2,
    "chatbot": 0.4,
    "cold_call": -0.5,
}
BUDGET = {"<10k": -0.7, "10-25k": -0.1, "25-50k": 0.3, "50-100k": 0.6, "100k+": 0.8}


def true_logit(leads: Leads, events: dict[str, np.ndarray], drift: str | None, strength: float) -> np.ndarray:
    """Ground-truth log-odds of conversion from the lead's features.

    Args:
        leads: sampled CRM attributes.
        events: point-in-time event features by feature name (``web_visits``, ``pricing_views``,
            ``form_completions``, ``time_on_site_sec``).
        drift: when its kinds (:func:`drift_kinds`) include ``concept``, the function moves towards an
            alternative one; inputs are unchanged.
        strength: 0..1 interpolation weight towards the alternative function.
    """
    c, x = leads.cat, leads.num
    pv, pr = np.log1p(events["web_visits"]), np.log1p(events["pricing_views"])
    forms = np.minimum(events["form_completions"], 3)
    tos = np.log1p(events["time_on_site_sec"] / 60.0)
    high_budget = np.isin(c["budget_band"], ["50-100k", "100k+"])
    common = (
        _effect(c["channel"], {"in_person": 0.3, "phone": 0.1, "whatsapp": 0.1, "email": -0.2})
        + _effect(c["license_type"], {"freelance": -0.4, "industrial": 0.2, "ecommerce": -0.1})
        + _effect(c["company_size"], {"2-5": 0.1, "6-20": 0.3, "21-50": 0.45, "50+": 0.5})
        + _effect(c["nationality"], {"IN": 0.15, "GB": 0.2, "RU": 0.25, "NG": -0.4, "PH": -0.3, "CN": 0.1})
        + np.where(c["country_of_residence"] == "AE", 0.3, 0.0)
        + 0.06 * np.minimum(x["visas_requested"], 10)
        + 0.4 * leads.has_existing_company
        + 0.15 * np.log1p(x["pages_per_visit"])
        + 0.05 * np.log1p(x["email_opens"])
        + 0.2 * np.log1p(x["email_clicks"])
        - 0.15 * np.log1p(x["days_since_first_contact"])
        + 0.1 * tos
        - 0.5 * ((x["visas_requested"] > 5) & (c["office_type"] == "flexi_desk"))
    )
    base = (
        -4.3
        + common
        + _effect(c["lead_source"], BASE_SOURCE)
        + _effect(c["budget_band"], BUDGET)
        + 0.25 * pv
        + 0.5 * pr
        + 0.6 * forms
        + 0.5 * (high_budget & (events["pricing_views"] > 0))
        + 0.3 * ((c["lead_source"] == "referral") & leads.has_existing_company)
    )
    if "concept" not in drift_kinds(drift) or strength <= 0:
        return base
    alt = (
        -3.9
        + common
        + _effect(c["lead_source"], ALT_SOURCE)
        + 0.3 * _effect(c["budget_band"], BUDGET)
        + 0.1 * pv
        - 0.3 * pr
        + 0.9 * forms
        + 0.6 * ((c["channel"] == "whatsapp") & (forms > 0))
    )
    s = min(max(strength, 0.0), 1.0)
    return (1 - s) * base + s * alt


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (:func:`leadscore_core.stats.auc`, the rank-sum formula); NaN when one class is absent."""
    value = stats.auc(np.asarray(labels).astype(bool), scores)
    return float("nan") if value is None else value
