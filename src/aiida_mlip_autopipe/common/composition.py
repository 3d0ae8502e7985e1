"""Whole-atom counts of a composition, shared by generation, validation and the campaign."""

from __future__ import annotations

import math


def site_counts(composition: dict[str, float], sites: int) -> dict[str, int]:
    """Return whole atom counts on ``sites`` closest to ``composition`` (largest remainders), order kept.

    Each element gets the whole part of its share of ``sites``; the sites left go, one each, to the
    elements with the largest remainders (ties to the earlier element of ``composition``).
    """
    exact = {element: fraction * sites for element, fraction in composition.items()}
    counts = {element: math.floor(value + 1e-9) for element, value in exact.items()}
    remainders = sorted(exact, key=lambda element: (-(exact[element] - counts[element]), list(exact).index(element)))
    for element in remainders[: sites - sum(counts.values())]:
        counts[element] += 1
    return counts
