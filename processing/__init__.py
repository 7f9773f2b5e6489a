# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Everything between a video file and Sherlock's tensors, and back to abnormal events.

Every module here also ships to the Hub as remote code next to the model (flat, single-dot imports only).

The package imports lazily (PEP 562): `from processing import SherlockProcessor` loads the processor (and torch,
transformers) on first access, while `import processing.video_check_sherlock` or `import processing.events_sherlock`
loads only that module and its light siblings (the answer format: standard library and `transformers.utils`), so a
command line can check its inputs before paying for the heavy imports.
"""

import importlib


# public name -> the submodule that defines it
_EXPORTS = {
    "NO_EVENT_ANSWER": "events_sherlock",
    "AbnormalEvent": "events_sherlock",
    "format_events": "events_sherlock",
    "post_process_events": "events_sherlock",
    "DEFAULT_EXTRACTOR_SETTINGS": "extractors_sherlock",
    "ExtractorSet": "extractors_sherlock",
    "build_extractors": "extractors_sherlock",
    "FeatureCache": "feature_cache_sherlock",
    "FeatureCacheMiss": "feature_cache_sherlock",
    "DEFAULT_INSTRUCTION": "processing_sherlock",
    "SherlockProcessor": "processing_sherlock",
    "VideoClip": "video_sherlock",
    "VideoDecodeError": "video_check_sherlock",
    "load_video": "video_sherlock",
    "video_content_hash": "video_sherlock",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "DEFAULT_EXTRACTOR_SETTINGS",
    "DEFAULT_INSTRUCTION",
    "NO_EVENT_ANSWER",
    "AbnormalEvent",
    "ExtractorSet",
    "FeatureCache",
    "FeatureCacheMiss",
    "SherlockProcessor",
    "VideoClip",
    "VideoDecodeError",
    "build_extractors",
    "format_events",
    "load_video",
    "post_process_events",
    "video_content_hash",
]
