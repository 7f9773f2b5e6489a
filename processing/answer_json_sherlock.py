# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The JSON route of the answer parser: events from JSON lists / objects (or Python literals) in the answer.

Part of the tolerant parser of `answer_parser_sherlock`. Ships to the Hub as remote code: standard library and
single-dot siblings only.
"""

import ast
import json
import re

from .answer_spans_sherlock import RawEvent, clean_whitespace, find_spans, parse_time, span_values
from .answer_text_sherlock import GROUP, fields_from_tuple_text, fields_from_values
from .vocabulary_sherlock import normalize_event_type


_JSON_START = re.compile(r"[\[{]\s*[\"'{\[]")
_MAX_LITERAL_CHARS = 20_000
_MAX_LITERAL_ATTEMPTS = 32
_MAX_JSON_FAILURES = 256

# JSON keys (lower case, without spaces, underscores and dashes), in order of preference.
_JSON_START_KEYS = ("start", "starttime", "startsec", "startseconds", "begin", "begintime", "from", "startts")
_JSON_END_KEYS = ("end", "endtime", "endsec", "endseconds", "stop", "finish", "to", "endts")
_JSON_SPAN_KEYS = (
    "timestamps", "timestamp", "time", "times", "span", "segment", "interval", "timespan", "timerange",
    "timeinterval", "timesegment", "period", "moment", "window",
)  # fmt: skip
_JSON_FIELD_KEYS = {
    "subject": ("subject", "subj", "sub", "actor", "agent", "who"),
    "event_type": (
        "eventtype", "event", "type", "category", "class", "label", "anomaly", "anomalytype", "abnormalevent",
        "abnormaleventtype", "eventcategory",
    ),
    "object": ("object", "obj", "target"),
    "scene": ("scene", "location", "place", "setting", "environment", "where"),
}  # fmt: skip
_JSON_QUADRUPLE_KEYS = ("quadruple", "quadruplet", "quad", "tuple")


def _json_key(key):
    return re.sub(r"[\s_\-]", "", key.lower()) if isinstance(key, str) else None


def _json_time(value):
    if isinstance(value, bool):
        return None, False
    if isinstance(value, (int, float)):
        return float(value), True
    if isinstance(value, str):
        return parse_time(value), False
    return None, False


def _json_span(value):
    """A span value: `[a, b]`, `"23-25s"`, `"00:23 - 00:25"`; -> (start, end, fraction_ok) or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        (start, unitless1), (end, unitless2) = _json_time(value[0]), _json_time(value[1])
        if isinstance(value[0], str) and isinstance(value[1], str):
            start, end = span_values(value[0], value[1])
        return start, end, unitless1 and unitless2
    if isinstance(value, str):
        text = clean_whitespace(value)
        spans = find_spans(text)
        if not spans and "-" in text:  # a bare "23-25" is a span when it is all the value says
            parts = text.split("-")
            if len(parts) == 2:
                start, end = span_values(parts[0], parts[1])
                return start, end, False
        if spans:
            start, end = span_values(spans[0].t1, spans[0].t2)
            return start, end, spans[0].fraction_ok
    return None


def _json_field(mapping, keys):
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _normalized_mapping(value):
    mapping = {}
    for key, item in value.items():
        normalized = _json_key(key)
        if normalized is not None:
            mapping.setdefault(normalized, item)
    return mapping


def _event_from_mapping(value):
    """A JSON object that has times is an event (possibly with unreadable times); else None."""
    mapping = _normalized_mapping(value)
    start_key = next((key for key in _JSON_START_KEYS if key in mapping), None)
    end_key = next((key for key in _JSON_END_KEYS if key in mapping), None)
    span_key = next((key for key in _JSON_SPAN_KEYS if key in mapping), None)
    if start_key is not None and end_key is not None:
        (start, _), (end, _) = _json_time(mapping[start_key]), _json_time(mapping[end_key])
        if isinstance(mapping[start_key], str) and isinstance(mapping[end_key], str):
            start, end = span_values(mapping[start_key], mapping[end_key])
        span = (start, end, False)
    elif span_key is not None:
        span = _json_span(mapping[span_key]) or (None, None, False)
    else:
        return None
    return RawEvent(span[0], span[1], _mapping_fields(mapping), span[2])


def _untimed_event_from_mapping(value):
    """A JSON object without times that names a readable event type is an event without times; else None."""
    fields = _mapping_fields(_normalized_mapping(value))
    if normalize_event_type(fields.get("event_type")) is None:
        return None
    return RawEvent(None, None, fields)


def _mapping_fields(mapping):
    """The raw quadruple fields of a JSON object (its keys normalised by `_json_key`)."""
    result = {}
    quadruple_key = next((key for key in _JSON_QUADRUPLE_KEYS if key in mapping), None)
    if quadruple_key is not None:
        quadruple = mapping[quadruple_key]
        if isinstance(quadruple, (list, tuple)) and len(quadruple) in (3, 4):
            result = fields_from_values([item if isinstance(item, str) else "" for item in quadruple])
        elif isinstance(quadruple, str):
            group = GROUP.search(quadruple)
            result = fields_from_tuple_text(group.group(1) if group else quadruple, strict=False) or {}
    for name, keys in _JSON_FIELD_KEYS.items():
        field_value = _json_field(mapping, keys)
        if field_value is not None:
            result[name] = field_value
    return result


def _event_from_sequence(value):
    """`[23, 25, "people", "Theft", "car", "Street"]` (two times then the quadruple) is an event; else None."""
    if not isinstance(value, list) or len(value) not in (5, 6):
        return None
    if not all(isinstance(item, str) for item in value[2:]):
        return None
    (start, unitless1), (end, unitless2) = _json_time(value[0]), _json_time(value[1])
    if start is None or end is None:
        return None
    return RawEvent(start, end, fields_from_values(value[2:]), unitless1 and unitless2)


def _walk_json(value, out, depth=0):
    if depth > 32:
        return
    if isinstance(value, dict):
        event = _event_from_mapping(value)
        if event is not None:
            out.append(event)
            return
        found = []
        for item in value.values():
            _walk_json(item, found, depth + 1)
        if not found:  # an object that holds no event may be one without times
            event = _untimed_event_from_mapping(value)
            found = [event] if event is not None else []
        out.extend(found)
    elif isinstance(value, list):
        event = _event_from_sequence(value)
        if event is not None:
            out.append(event)
            return
        for item in value:
            _walk_json(item, out, depth + 1)


def _balanced_end(text, start):
    """Index after the bracket that closes `text[start]` (quotes respected), or None."""
    depth, quote, escaped = 0, None, False
    for index in range(start, min(len(text), start + _MAX_LITERAL_CHARS)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def events_from_json(text):
    """The JSON route: every JSON (or Python literal) list / object in the text; events in order of appearance."""
    decoder = json.JSONDecoder()
    events, position, literal_attempts, failures = [], 0, 0, 0
    for match in _JSON_START.finditer(text):
        if match.start() < position:
            continue
        if failures >= _MAX_JSON_FAILURES:  # pathological text ("[[[[..."): stay linear, the regex route follows
            break
        value, end = None, None
        try:
            value, end = decoder.raw_decode(text, match.start())
        except Exception:  # JSONDecodeError, RecursionError on pathological nesting
            failures += 1
            # A Python literal (single quotes) instead of JSON; a bounded number of tries keeps pathological text
            # (thousands of "{'") linear.
            if match.group().endswith("'") and literal_attempts < _MAX_LITERAL_ATTEMPTS:
                literal_attempts += 1
                end = _balanced_end(text, match.start())
            if end is not None:
                try:
                    value = ast.literal_eval(text[match.start() : end])
                except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError
                    value, end = None, None
        if end is None:
            continue
        found = []
        _walk_json(value, found)
        if found:
            events.extend(found)
            position = end
    return events


__all__ = ["events_from_json"]
