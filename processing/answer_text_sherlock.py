# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The regex route of the answer parser: the time spans of free text, then the quadruple that belongs to each
(bracket groups, comma-separated labels, `key: value` fields, an event type named next to the span).

Part of the tolerant parser of `answer_parser_sherlock`. Ships to the Hub as remote code.
"""

import bisect
import re
from dataclasses import dataclass

from .abnormal_event_sherlock import NORMALIZERS, QUADRUPLE_FIELDS
from .answer_spans_sherlock import TIME_VALUE, RawEvent, find_spans, span_values
from .vocabulary_sherlock import normalize_event_type


GROUP = re.compile(r"[(\[]([^()\[\]\n]*)[)\]]")
_FIELD_SPLIT = re.compile(r"\s*[,;|]\s*")
_KEY_VALUE = re.compile(
    r"(?<![\w])(?P<key>subject|event[ _-]?type|type of event|event|type|object|scene|location|place|setting)"
    r"[\"'*]*\s?[:=]\s?[\"']?(?P<value>[^,;\n\"'{}\[\]()]+)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.!?;](?![0-9])")
_LEADING_SEPARATORS = " \t:,-–—=>|)]}\"'"
_TRAILING_SEPARATORS = " \t.;,:)]}\"'"

_KEY_TO_FIELD = {"subject": "subject", "object": "object", "scene": "scene", "location": "scene", "place": "scene"}
_KEY_TO_FIELD.update({"setting": "scene", "eventtype": "event_type", "typeofevent": "event_type"})
_KEY_TO_FIELD.update({"event": "event_type", "type": "event_type"})


def fields_from_values(values):
    """Quadruple fields from 3 or 4 positional values; a `key: value` item goes to its key's field."""
    names = QUADRUPLE_FIELDS if len(values) == 4 else ("subject", "event_type", "object")
    result, keyed = {}, {}
    for name, value in zip(names, values):
        match = _KEY_VALUE.fullmatch(value.strip())
        if match is not None:
            keyed[_KEY_TO_FIELD[re.sub(r"[\s_-]", "", match.group("key").lower())]] = match.group("value").strip()
        else:
            result[name] = value
    result.update(keyed)
    return result


def fields_from_tuple_text(inner, strict):
    """Fields from the inside of a bracket group or a comma-separated label, or None when it is no quadruple.

    A group needs 3 or 4 non-empty, non-time fields; a 3-field group (and, with `strict`, any group) also needs a
    readable event type, so that prose such as "(a man, a woman and a child)" is not a quadruple."""
    values = [value.strip(" \"'*`") for value in _FIELD_SPLIT.split(inner.strip())]
    if len(values) not in (3, 4) or not all(values) or any(len(value) > 80 for value in values):
        return None
    if any(TIME_VALUE.fullmatch(value) for value in values):
        return None
    result = fields_from_values(values)
    if (strict or len(values) == 3) and normalize_event_type(result.get("event_type")) is None:
        return None
    return result


@dataclass
class _Candidate:
    start: int
    end: int
    line: int
    fields: dict


def _find_candidates(text, spans, line_starts):
    """Quadruple candidates: bracket groups with 3-4 fields and `key: value` records, in order of position."""
    candidates = []
    span_starts, span_ends = [span.start for span in spans], [span.end for span in spans]

    def overlaps_span(start, end):  # spans are sorted and disjoint, so their ends are sorted too
        index = bisect.bisect_left(span_starts, end) - 1
        return index >= 0 and span_ends[index] > start

    group_starts, group_ends = [], []
    for match in GROUP.finditer(text):
        if overlaps_span(match.start(), match.end()):
            continue  # a group that holds a time span (e.g. "(23.0, 25.0)") is no quadruple
        result = fields_from_tuple_text(match.group(1), strict=False)
        if result is not None:
            group_starts.append(match.start())
            group_ends.append(match.end())
            line = bisect.bisect_right(line_starts, match.start()) - 1
            candidates.append(_Candidate(match.start(), match.end(), line, result))
    record, record_start, record_end = {}, 0, 0

    def close_record():
        if record and any(NORMALIZERS[name](value) is not None for name, value in record.items()):
            line = bisect.bisect_right(line_starts, record_start) - 1
            candidates.append(_Candidate(record_start, record_end, line, dict(record)))

    for match in _KEY_VALUE.finditer(text):
        group_index = bisect.bisect_right(group_starts, match.start()) - 1
        if group_index >= 0 and match.start() < group_ends[group_index]:
            continue  # a "key: value" item inside a bracket group belongs to that group
        name = _KEY_TO_FIELD[re.sub(r"[\s_-]", "", match.group("key").lower())]
        span_between = bisect.bisect_left(span_starts, match.start()) > bisect.bisect_left(span_starts, record_end)
        if name in record or span_between:
            close_record()
            record = {}
        if not record:
            record_start = match.start()
        record[name] = match.group("value").strip()
        record_end = match.end()
    close_record()
    candidates.sort(key=lambda candidate: candidate.start)
    return candidates


def _strip_label(text):
    return text.strip(_LEADING_SEPARATORS).rstrip(_TRAILING_SEPARATORS).strip()


def _event_type_from_clauses(text, span, previous_end, next_start, line_start, line_end):
    """The event type named in the clause right after the span (else right before it, on the same line)."""
    after = text[span.end : min(next_start, line_end)]
    boundary = _CLAUSE_END.search(after)
    event_type = normalize_event_type(_strip_label(after[: boundary.start()] if boundary else after))
    if event_type is not None:
        return event_type
    before = text[max(previous_end, line_start) : span.start]
    boundaries = list(_CLAUSE_END.finditer(before))
    if boundaries:  # only the clause that leads into the span ("The theft occurs from ...", "Fighting: 00:12 ...")
        before = before[boundaries[-1].end() :]
    return normalize_event_type(_strip_label(before.rstrip(_TRAILING_SEPARATORS + "-–—")))


def events_from_text(text):
    """The regex route: spans, then the quadruple that belongs to each; in text order.

    A quadruple left over (no span to give it: the answer wrote no time, or one the span patterns cannot read) is an
    event without times (`RawEvent` with `start = end = None`) when it names a readable event type, so that prose
    such as "(a man, a woman, a child, a dog)" is not taken for one.
    """
    line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
    spans = find_spans(text)
    candidates = _find_candidates(text, spans, line_starts)
    if not spans:
        return [RawEvent(None, None, candidate.fields) for candidate in candidates if _names_event_type(candidate)]
    candidate_starts = [candidate.start for candidate in candidates]
    used = [False] * len(candidates)
    assigned = [None] * len(spans)

    def line_of(position):
        return bisect.bisect_right(line_starts, position) - 1

    def line_end_of(position):
        end = text.find("\n", position)
        return len(text) if end < 0 else end

    bounds = []
    for index in range(len(spans)):
        previous_end = spans[index - 1].end if index else 0
        next_start = spans[index + 1].start if index + 1 < len(spans) else len(text)
        bounds.append((previous_end, next_start))

    def take(index, candidate_indices):
        for candidate_index in candidate_indices:
            if not used[candidate_index]:
                used[candidate_index] = True
                assigned[index] = candidates[candidate_index].fields
                return True
        return False

    def after_candidates(index, same_line):
        span, (_, next_start) = spans[index], bounds[index]
        low, high = bisect.bisect_left(candidate_starts, span.end), bisect.bisect_left(candidate_starts, next_start)
        line = line_of(span.end)
        return [i for i in range(low, high) if not same_line or candidates[i].line == line]

    def before_candidates(index, same_line):
        span, (previous_end, _) = spans[index], bounds[index]
        low = bisect.bisect_left(candidate_starts, previous_end)
        high = bisect.bisect_left(candidate_starts, span.start)
        line = line_of(span.start)
        return [
            i
            for i in range(high - 1, low - 1, -1)
            if candidates[i].end <= span.start and (not same_line or candidates[i].line == line)
        ]

    # Pass 1: a quadruple on the span's own line, after it (the canonical layout), as a bracket group or as a
    # comma-separated label ("23-25s: people, Theft, car, Street"); else one before it on the same line.
    for index, span in enumerate(spans):
        if take(index, after_candidates(index, same_line=True)):
            continue
        label = _strip_label(text[span.end : min(bounds[index][1], line_end_of(span.end))])
        fields_ = fields_from_tuple_text(label, strict=True) if label else None
        if fields_ is not None:
            assigned[index] = fields_
    for index in range(len(spans)):
        if assigned[index] is None:
            take(index, before_candidates(index, same_line=True))
    # Pass 2: quadruples on other lines; whether they come after or before their spans is read from the first ones.
    free_candidates = [candidate.start for candidate, is_used in zip(candidates, used) if not is_used]
    free_spans = [span.start for span, fields_ in zip(spans, assigned) if fields_ is None]
    prefer_before = bool(free_candidates and free_spans) and free_candidates[0] < free_spans[0]
    for index in range(len(spans)):
        if assigned[index] is None:
            after, before = after_candidates(index, False), before_candidates(index, False)
            take(index, before + after if prefer_before else after + before)
    # Pass 3: no quadruple; the event type may still be named next to the span ("00:12 - 00:18: fighting").
    positioned = []
    for index, span in enumerate(spans):
        fields_ = assigned[index]
        if fields_ is None:
            line_start = line_starts[line_of(span.start)]
            event_type = _event_type_from_clauses(
                text, span, bounds[index][0], bounds[index][1], line_start, line_end_of(span.end)
            )
            fields_ = {"event_type": event_type} if event_type else {}
        start, end = span_values(span.t1, span.t2)
        positioned.append((span.start, RawEvent(start, end, fields_, span.fraction_ok)))
    # The quadruples no span took: events without times, in their place in the text.
    for candidate, is_used in zip(candidates, used):
        if not is_used and _names_event_type(candidate):
            positioned.append((candidate.start, RawEvent(None, None, candidate.fields)))
    positioned.sort(key=lambda item: item[0])
    return [raw for _, raw in positioned]


def _names_event_type(candidate):
    return normalize_event_type(candidate.fields.get("event_type")) is not None


__all__ = ["GROUP", "events_from_text", "fields_from_tuple_text", "fields_from_values"]
