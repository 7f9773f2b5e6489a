# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The `precomputed` backend: every expert input is read from the feature cache, no extractor model runs.

Its settings are the whole `extractors` value `{"backend": "precomputed"}` (not one part of the four-part settings of
`build_extractors`). The processor (`processing_sherlock.py`) recognises it with `is_precomputed` and loads the
clip's only cache entry (`feature_cache_sherlock.FeatureCache`), whatever extractors wrote it (the dataset builders
write oracle features that way). `build_extractors` has nothing to build for it and says so.

This file ships to the Hub as remote code: it imports only the standard library.
"""

from collections.abc import Mapping
from typing import Any


PRECOMPUTED_BACKEND = "precomputed"


def is_precomputed(settings: Mapping[str, Any] | None) -> bool:
    """Whether extractor `settings` select the `precomputed` backend (features from the cache only)."""
    return isinstance(settings, Mapping) and settings.get("backend") == PRECOMPUTED_BACKEND


__all__ = ["PRECOMPUTED_BACKEND", "is_precomputed"]
