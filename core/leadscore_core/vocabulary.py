"""Learning the vocabulary of ``categories: learn`` features from the training part of the data.

The values arrive clean (bronze already applied ``case: fold`` and the missing tokens), so learning is a
count: values seen at least ``min_frequency`` times, the ``max_categories`` most frequent of them, most
frequent first (ties by value). Everything else encodes as ``__other__``. Training stores the result in the
artifact (:attr:`leadscore_core.artifact.Manifest.vocabularies`) and fills it into the served spec with
:meth:`leadscore_core.contract.FeatureSpec.with_vocabularies`, so serving and drift use exactly it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from leadscore_core.contract import OTHER, FeatureDef, FeatureSpec
from leadscore_core.validation import category_key


def learn_vocabulary(f: FeatureDef, values: Iterable[Any]) -> list[str]:
    """The vocabulary of one learned feature from its training-part values (None/NaN = missing)."""
    counts = Counter(category_key(f, v) for v in values if v is not None and not (isinstance(v, float) and v != v))
    counts.pop(OTHER, None)
    kept = sorted(((n, v) for v, n in counts.items() if n >= f.min_frequency), key=lambda t: (-t[0], t[1]))
    if f.max_categories is not None:
        kept = kept[: f.max_categories]
    return [v for _, v in kept]


def learn_vocabularies(spec: FeatureSpec, columns: Mapping[str, Iterable[Any]]) -> dict[str, list[str]]:
    """Vocabulary per ``categories: learn`` feature; refuses one that learns nothing (name and reason)."""
    out: dict[str, list[str]] = {}
    for f in spec.features:
        if not f.learned:
            continue
        vocab = learn_vocabulary(f, columns[f.name])
        if not vocab:
            raise ValueError(
                f"feature {f.name!r}: no value occurs {f.min_frequency}+ times in the training part; "
                "lower min_frequency or list the categories"
            )
        out[f.name] = vocab
    return out
