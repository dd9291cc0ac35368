"""Small lead exports shaped like the ones new users bring (issue 13), with a spec file each.

- :func:`write_web_export` ("export 1"): one CSV; an integer ``Lead Number`` is the only time proxy and the
  rows are newest first; ``Select`` means "not chosen"; booleans are ``Yes``/``No``; ``Lead Source`` is mixed
  case (``Google`` and ``google``); column names have spaces.
- :func:`write_agent_export` ("export 2"): leads in two CSVs (a part each), the label in a third file joined
  on ``Prospect ID``, an ISO date column, and a ~500-level categorical (``agent_id``).

The conversion probability is a known logistic function of the features plus a slow drift over time, so
which part is held out matters and a model that learned the right vocabulary scores well. Both writers
are deterministic in ``seed``; :data:`WEB_SPEC` and :data:`AGENT_SPEC` are the matching spec files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = (
    "Google",
    "Direct Traffic",
    "Olark Chat",
    "Organic Search",
    "Reference",
    "Welingak Website",
    "Referral Sites",
    "Facebook",
)
ORIGINS = ("API", "Landing Page Submission", "Lead Add Form", "Lead Import")
SPECIALIZATIONS = (
    "Finance Management",
    "Human Resource Management",
    "Marketing Management",
    "Operations Management",
    "IT Projects Management",
    "Business Administration",
)
CITIES = ("Mumbai", "Thane & Outskirts", "Other Cities", "Other Metro Cities", "Tier II Cities")

WEB_SPEC = """\
# Export 1: web leads. Lead Number grows with time; the file lists the newest lead first.
name: web_leads
description: Web-form leads of an education company (generated export 1).
entity:
  id: lead_number
  order_by: lead_number
  direction: ascending      # a larger lead number is a newer lead, whatever the file order
target:
  column: Converted
  positive: ["1"]
missing_values: ["", "Select", "NA"]   # placeholders that mean "not chosen", for every feature
quality: {max_quarantine_rate: 0.05, max_null_rate: 0.9, min_rows: 200}
fields:
  - {name: lead_number, column: Lead Number, type: numeric, required: true}
features:
  - {name: lead_origin, column: Lead Origin, type: categorical, categories: learn}
  - {name: lead_source, column: Lead Source, type: categorical, categories: learn, case: fold, min_frequency: 5}
  - {name: do_not_email, column: Do Not Email, type: boolean}
  - {name: total_visits, column: TotalVisits, type: numeric, min: 0, max: 500}
  - {name: time_on_website, column: Total Time Spent on Website, type: numeric, min: 0}
  - {name: specialization, column: Specialization, type: categorical, categories: learn, case: fold}
  - {name: city, column: City, type: categorical, categories: learn}
"""

AGENT_SPEC = """\
# Export 2: leads in two files, the label in a third, a ~500-level agent id.
name: agent_leads
description: Leads handled by ~500 agents (generated export 2).
entity:
  id: prospect_id
  timestamp: created
inputs:
  leads: ["leads_part1.csv", "leads_part2.csv"]
  labels: {file: labels.csv, id: Prospect ID}
target:
  column: converted
  positive: ["1", "yes"]
missing_values: ["", "NA"]
quality: {max_quarantine_rate: 0.05, max_null_rate: 0.9, min_rows: 200}
fields:
  - {name: prospect_id, column: Prospect ID, type: string, required: true}
  - {name: created, column: Created Date, type: timestamp, required: true}
features:
  - {name: agent_id, type: categorical, categories: learn, min_frequency: 3, max_categories: 600}
  - {name: region, type: categorical, categories: learn, case: fold}
  - {name: calls, type: numeric, min: 0, max: 1000}
  - {name: budget, type: numeric, min: 0}
  - {name: returning, type: boolean}
"""


@dataclass(frozen=True)
class Export:
    """Where an export was written and its ground truth."""

    directory: Path
    spec_path: Path
    files: list[Path]
    true_probability: np.ndarray
    """In the order of the lead id (lead number / prospect index)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _fmt(x: float) -> str:
    return "" if np.isnan(x) else (str(int(x)) if float(x).is_integer() else f"{x:.2f}")


def write_web_export(out: Path, rows: int = 3000, seed: int = 0) -> Export:
    """Export 1: ``leads.csv`` newest first, plus ``web_leads.yaml`` (:data:`WEB_SPEC`)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    number = 600_000 + np.arange(rows) * 3 + rng.integers(0, 3, rows)  # increasing with time
    t = np.linspace(0.0, 1.0, rows)
    source = rng.choice(len(SOURCES), rows, p=[0.3, 0.2, 0.15, 0.12, 0.08, 0.05, 0.05, 0.05])
    source_fx = np.array([0.6, -0.3, -0.8, 0.1, 1.6, 2.0, -0.5, -1.0])
    origin = rng.choice(len(ORIGINS), rows)
    spec_i = rng.choice(len(SPECIALIZATIONS) + 1, rows)  # the last index = "Select"
    city = rng.choice(len(CITIES) + 1, rows)
    no_email = rng.random(rows) < 0.08
    visits = np.where(rng.random(rows) < 0.03, np.nan, rng.poisson(3.5, rows).astype(float))
    seconds = rng.gamma(1.2, 400.0, rows).round()
    logit = (
        -1.2
        + source_fx[source]
        + 0.9 * (origin == 2)
        - 1.2 * no_email
        + 0.0012 * seconds
        - 0.4 * (spec_i == len(SPECIALIZATIONS))
        + 1.5 * (t - 0.5)
    )  # drift: later leads convert more
    p = _sigmoid(logit)
    label = (rng.random(rows) < p).astype(int)
    body: list[list[str]] = []
    for i in range(rows):
        name = SOURCES[source[i]]
        if name == "Google" and rng.random() < 0.3:
            name = "google"  # the CRM stores both spellings
        body.append(
            [
                str(number[i]),
                ORIGINS[origin[i]],
                name,
                "Yes" if no_email[i] else "No",
                _fmt(visits[i]),
                _fmt(seconds[i]),
                "Select" if spec_i[i] == len(SPECIALIZATIONS) else SPECIALIZATIONS[spec_i[i]],
                "Select" if city[i] == len(CITIES) else CITIES[city[i]],
                str(label[i]),
            ]
        )
    header = [
        "Lead Number",
        "Lead Origin",
        "Lead Source",
        "Do Not Email",
        "TotalVisits",
        "Total Time Spent on Website",
        "Specialization",
        "City",
        "Converted",
    ]
    leads = _write_csv(out / "leads.csv", header, body[::-1])  # newest first
    spec = out / "web_leads.yaml"  # the file is named after the spec (train finds it by that name)
    spec.write_text(WEB_SPEC)
    return Export(out, spec, [leads], p)


def write_agent_export(out: Path, rows: int = 3000, seed: int = 0, n_agents: int = 495) -> Export:
    """Export 2: ``leads_part1.csv``, ``leads_part2.csv``, ``labels.csv``, ``agent_leads.yaml`` (:data:`AGENT_SPEC`)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    days = np.sort(rng.integers(0, 365, rows))
    dates = (np.datetime64("2025-01-01") + days.astype("timedelta64[D]")).astype(str)
    weights = 1.0 / np.arange(1, n_agents + 1) ** 0.6
    agent = rng.choice(n_agents, rows, p=weights / weights.sum())
    agent_fx = rng.normal(0.0, 1.2, n_agents)
    regions = np.array(["North", "South", "East", "West", "north", "Central"])
    region = rng.choice(len(regions), rows)
    calls = rng.poisson(4, rows).astype(float)
    budget = np.where(rng.random(rows) < 0.05, np.nan, rng.lognormal(8.0, 1.0, rows).round())
    returning = rng.random(rows) < 0.3
    logit = -1.0 + agent_fx[agent] + 0.15 * calls + 0.6 * returning + 0.4 * (np.char.lower(regions[region]) == "north")
    p = _sigmoid(logit)
    label = (rng.random(rows) < p).astype(int)
    ids = [f"P-{i:06d}" for i in range(rows)]
    header = ["Prospect ID", "Created Date", "agent_id", "region", "calls", "budget", "returning"]
    body = [
        [
            ids[i],
            dates[i],
            f"AG{agent[i]:04d}",
            str(regions[region[i]]),
            _fmt(calls[i]),
            _fmt(budget[i]),
            "true" if returning[i] else "false",
        ]
        for i in range(rows)
    ]
    order = rng.permutation(rows)  # files in no particular order: the date defines time
    half = rows // 2
    files = [
        _write_csv(out / "leads_part1.csv", header, [body[i] for i in order[:half]]),
        _write_csv(out / "leads_part2.csv", header, [body[i] for i in order[half:]]),
    ]
    labels = _write_csv(
        out / "labels.csv", ["Prospect ID", "converted"], [[ids[i], "yes" if label[i] else "no"] for i in order]
    )
    spec = out / "agent_leads.yaml"
    spec.write_text(AGENT_SPEC)
    return Export(out, spec, [*files, labels], p)
