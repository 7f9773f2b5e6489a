# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Everything between a video file and Sherlock's tensors, and back to abnormal events.

Every module here also ships to the Hub as remote code next to the model (flat, single-dot imports only).
"""

from .events_sherlock import NO_EVENT_ANSWER, AbnormalEvent, format_events, post_process_events
from .extractors_sherlock import DEFAULT_EXTRACTOR_SETTINGS, ExtractorSet, build_extractors
from .feature_cache_sherlock import FeatureCache, FeatureCacheMiss
from .processing_sherlock import DEFAULT_INSTRUCTION, SherlockProcessor
from .video_sherlock import VideoClip, VideoDecodeError, load_video, video_content_hash


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
