"""Nested dictionaries: protocol inputs with their overrides, campaign presets with the user's file."""

from __future__ import annotations

import copy


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` updated recursively with ``override``; neither argument is changed.

    Where both hold a dict under one key the two are merged; otherwise ``override``'s value wins.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
