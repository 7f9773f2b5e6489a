# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Abnormal events and Sherlock's answer format: `format_events` (strict, for training targets) and
`post_process_events` (tolerant, for generations).

The canonical answer has one event per line, sorted by start time:

    23.0-25.0s: (people, Theft, car, Street)
    40.5-52.0s: (man, Fighting, man, Street)

or exactly `No abnormal event.`. The quadruple fields use the canonical vocabularies of `vocabulary_sherlock`.

This module is the public face of the answer format; the code lives in single-dot siblings, one per seam:

- `abnormal_event_sherlock`: `AbnormalEvent`, `NO_EVENT_ANSWER`, `ANSWER_LINE_FORMAT`;
- `answer_format_sherlock`: `format_events`;
- `answer_parser_sherlock`: `post_process_events` (cleaning, then one of two routes, then clamping), reading
  through `answer_spans_sherlock` (time spans), `answer_text_sherlock` (the regex route: spans and their
  quadruples in free text) and `answer_json_sherlock` (the JSON route).

All of them ship to the Hub as remote code: they import only the standard library, transformers and single-dot
siblings (`vocabulary_sherlock` for the vocabularies).
"""

from .abnormal_event_sherlock import ANSWER_LINE_FORMAT, NO_EVENT_ANSWER, AbnormalEvent
from .answer_format_sherlock import format_events
from .answer_parser_sherlock import post_process_events


__all__ = ["ANSWER_LINE_FORMAT", "NO_EVENT_ANSWER", "AbnormalEvent", "format_events", "post_process_events"]
