"""Vectorised synthesis of web-form events (page views, pricing views, forms, chats, payments).

Two steps, because the ground truth depends on the point-in-time counts and the point-in-time cut-off
depends on the (sampled) conversion time:

1. :func:`sample_window_counts` draws how many events of each type fall *before* the cut-off, plus
   their durations, so the event features are known before the label is drawn;
2. :func:`place_events` puts those events strictly before ``min(created_at + window, converted_at)``
   and adds events that must never reach gold: engagement after the window or after conversion,
   ``payment_portal`` visits after conversion, and some events exactly at the conversion instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.datagen.synth import DAY, Leads

# types counted inside the feature window, with their base rate per unit of engagement
WINDOW_RATES = {
    "page_view": 2.2,
    "pricing_view": 0.5,
    "form_start": 0.3,
    "form_submit": 0.3,
    "chat_started": 0.15,
    "document_upload": 0.05,
}
TYPES = [*WINDOW_RATES, "payment_portal"]
"""Event type names; events carry their index into this list (int8 codes keep 10M events cheap)."""
CODE = {t: i for i, t in enumerate(TYPES)}
MEAN_DURATION = {
    "page_view": 55.0,
    "pricing_view": 85.0,
    "form_start": 40.0,
    "form_submit": 30.0,
    "chat_started": 180.0,
    "document_upload": 20.0,
    "payment_portal": 120.0,
}


@dataclass
class WindowEvents:
    """Events before the cut-off: one entry per event, grouped by lead index."""

    lead: np.ndarray
    """Lead index (int64) of each event."""
    etype: np.ndarray
    """Event type code of each event (index into :data:`TYPES`, int8)."""
    duration: np.ndarray
    """Seconds on page (int64)."""
    features: dict[str, np.ndarray]
    """Point-in-time event features per lead (float), by spec feature name."""


def sample_window_counts(leads: Leads, rng: np.random.Generator) -> WindowEvents:
    """Draw the events each lead makes before its point-in-time cut-off."""
    n = leads.n
    eng = leads.engagement
    web_form = leads.cat["channel"] == "web_form"
    chatbot = leads.cat["lead_source"] == "chatbot"
    lead_parts, type_parts = [], []
    counts: dict[str, np.ndarray] = {}
    for etype, rate in WINDOW_RATES.items():
        lam = rate * eng
        if etype == "form_submit":
            k = rng.poisson(lam) + web_form.astype(np.int64)
        elif etype == "chat_started":
            k = rng.poisson(lam + np.where(chatbot, 1.0, 0.0))
        else:
            k = rng.poisson(lam)
        counts[etype] = k
        lead_parts.append(np.repeat(np.arange(n, dtype=np.int64), k))
        type_parts.append(np.full(int(k.sum()), CODE[etype], dtype=np.int8))
    lead = np.concatenate(lead_parts)
    etypes = np.concatenate(type_parts)
    duration = _durations(etypes, rng)
    on_site = (etypes == CODE["page_view"]) | (etypes == CODE["pricing_view"])
    features = {
        "web_visits": counts["page_view"].astype(float),
        "pricing_views": counts["pricing_view"].astype(float),
        "form_completions": counts["form_submit"].astype(float),
        "time_on_site_sec": np.bincount(lead[on_site], weights=duration[on_site], minlength=n).astype(float),
    }
    return WindowEvents(lead=lead, etype=etypes, duration=duration, features=features)


def _durations(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = np.array([MEAN_DURATION[t] for t in TYPES])[codes]
    return np.maximum(1, np.round(rng.lognormal(0, 0.6, len(codes)) * mean * 0.85)).astype(np.int64)


@dataclass
class PlacedEvents:
    """All events with timestamps (epoch seconds) and whether they fall before the cut-off."""

    lead: np.ndarray
    etype: np.ndarray
    duration: np.ndarray
    ts: np.ndarray
    in_window: np.ndarray
    at_conversion: int
    """Events stamped exactly at ``converted_at`` (the point-in-time boundary, excluded)."""


def place_events(
    leads: Leads,
    window: WindowEvents,
    converted: np.ndarray,
    converted_s: np.ndarray,
    cutoff_s: np.ndarray,
    rng: np.random.Generator,
) -> PlacedEvents:
    """Timestamp the window events and add the post-cut-off ones that must not leak.

    Args:
        leads: the leads (creation times, engagement).
        window: events counted by the ground truth.
        converted: label per lead.
        converted_s: conversion time (epoch seconds; meaningless where not converted).
        cutoff_s: ``min(created_at + window, converted_at)`` per lead.
        rng: the seeded generator.
    """
    created = leads.created_s
    lead = window.lead
    span = np.maximum(cutoff_s[lead] - created[lead], 1)
    # a quarter of the pre-cut-off browsing happens before the lead was created (anonymous visits)
    before = rng.random(len(lead)) < 0.25
    offset = np.where(
        before,
        -(rng.random(len(lead)) * 7 * DAY).astype(np.int64),
        np.floor(rng.random(len(lead)) ** 2 * span).astype(np.int64),
    )
    ts_window = created[lead] + np.minimum(offset, span - 1)

    n = leads.n
    # engagement after the cut-off (never counted)
    k_post = rng.poisson(leads.engagement * 0.6)
    post_lead = np.repeat(np.arange(n, dtype=np.int64), k_post)
    post_type = np.where(rng.random(len(post_lead)) < 0.7, CODE["page_view"], CODE["pricing_view"]).astype(np.int8)
    post_ts = cutoff_s[post_lead] + np.floor(rng.exponential(8 * DAY, len(post_lead))).astype(np.int64)
    # converted leads pay through the portal after converting; some events hit the boundary exactly
    conv_idx = np.flatnonzero(converted)
    k_pay = 1 + rng.poisson(1.0, len(conv_idx))
    pay_lead = np.repeat(conv_idx, k_pay)
    pay_ts = converted_s[pay_lead] + np.floor(rng.exponential(2 * DAY, len(pay_lead))).astype(np.int64)
    edge = conv_idx[rng.random(len(conv_idx)) < 0.3]
    edge_type = np.where(rng.random(len(edge)) < 0.5, CODE["pricing_view"], CODE["form_submit"]).astype(np.int8)

    lead_all = np.concatenate([lead, post_lead, pay_lead, edge])
    type_all = np.concatenate(
        [window.etype, post_type, np.full(len(pay_lead), CODE["payment_portal"], np.int8), edge_type]
    )
    extra_dur = _durations(type_all[len(lead) :], rng)
    return PlacedEvents(
        lead=lead_all,
        etype=type_all,
        duration=np.concatenate([window.duration, extra_dur]),
        ts=np.concatenate([ts_window, post_ts, pay_ts, converted_s[edge]]),
        in_window=np.concatenate([np.ones(len(lead), bool), np.zeros(len(lead_all) - len(lead), bool)]),
        at_conversion=int(len(edge)),
    )
