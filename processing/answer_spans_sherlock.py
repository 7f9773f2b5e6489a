# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Time spans in a generated answer (`23-25s`, `from 0:23 to 1:05`, `[0.0, 0.12]`, `start: 23, end: 25`, ...) and
the raw event record both parsing routes produce (`answer_text_sherlock`, `answer_json_sherlock`).

Part of the tolerant parser of `answer_parser_sherlock`. Ships to the Hub as remote code: standard library only.
"""

import re
from dataclasses import dataclass


_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_CLOCK = r"[0-9]{1,3}:[0-9]{2}(?::[0-9]{2})?(?:\.[0-9]+)?"
_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?)\b"
_TIME = rf"(?:{_CLOCK}|{_NUMBER})(?:\s?{_UNIT})?"
TIME_VALUE = re.compile(rf"(?P<clock>{_CLOCK})|(?P<number>{_NUMBER})\s?(?P<unit>{_UNIT})?", re.IGNORECASE)
_SEPARATOR = r"-|–|—|‒|−|~|->|→|\bto\b|\buntil\b|\btill\b|\bthrough\b|\band\b"

# `from 23 to 25 seconds`, `between 23s and 25s`, `23-25s`, `00:23-00:25`, `0:23 to 1:05`, `23 – 25 s`.
_GENERIC_SPAN = re.compile(
    rf"(?:(?P<prefix>\b(?:from|between|seconds?|secs?)\s)\s?)?(?<![\w.:])(?P<t1>{_TIME})\s?(?P<sep>{_SEPARATOR})\s?"
    rf"(?P<t2>{_TIME})(?![0-9])",
    re.IGNORECASE,
)
# `[0.0, 0.12]`, `(23.0, 25.0)`, `{23s, 25s, (people, steal, car, street)}`.
_BRACKET_SPAN = re.compile(
    rf"(?P<open>[\[({{<])\s?[\"']?(?P<t1>{_TIME})[\"']?\s?,\s?[\"']?(?P<t2>{_TIME})[\"']?\s?(?=[\])}}>,])",
    re.IGNORECASE,
)
# `start: 23, end: 25`, `start time 23s, end time 25s`, `"start": 23, "end": 25` (also in broken JSON).
_KEYED_SPAN = re.compile(
    rf"\bstart(?:ing)?(?:[ _-]?time)?[\"']?\s?(?:[:=]|\bis\b|\bat\b)?\s?[\"']?(?P<t1>{_TIME})[\"']?\s?[,;]?\s?"
    rf"(?:and\s)?[\"']?\bend(?:ing)?(?:[ _-]?time)?[\"']?\s?(?:[:=]|\bis\b|\bat\b)?\s?[\"']?(?P<t2>{_TIME})",
    re.IGNORECASE,
)


@dataclass
class RawEvent:
    """An event as read, before clamping: times may be None (none or unreadable), fields are raw strings."""

    start: float | None
    end: float | None
    fields: dict
    fraction_ok: bool = False  # a unitless bracketed pair, may be fractions of the duration


def parse_time(text, default_unit=None):
    """`"23"`, `"23.5s"`, `"00:23"`, `"1:02:03"`, `"2 min"` -> seconds, or None; seconds / minutes >= 60 in a clock
    time are unreadable."""
    match = TIME_VALUE.fullmatch(text.strip())
    if match is None:
        return None
    if match.group("clock"):
        parts = match.group("clock").split(":")
        try:
            values = [float(part) for part in parts]
        except ValueError:
            return None
        if any(value >= 60 for value in values[1:]):
            return None
        seconds = 0.0
        for value in values:
            seconds = seconds * 60 + value
        return seconds
    unit = (match.group("unit") or default_unit or "s").lower()
    value = float(match.group("number"))
    return value * 60 if unit.startswith("m") else value


def unit_of(text):
    """The unit written after a number (`"23s"` -> `"s"`), None for none or a clock time."""
    match = TIME_VALUE.fullmatch(text.strip())
    if match is None or match.group("clock"):
        return None
    return match.group("unit")


def span_values(t1, t2):
    """Both times of a span in seconds; a unit written only on the second applies to the first (`2-3 min`)."""
    unit1, unit2 = unit_of(t1), unit_of(t2)
    return parse_time(t1, default_unit=unit2), parse_time(t2, default_unit=unit1)


@dataclass
class Span:
    """A time span found in the text: its character range, its two times as written, and whether it may be a pair
    of fractions of the duration."""

    start: int  # character positions in the cleaned text
    end: int
    t1: str
    t2: str
    fraction_ok: bool


def find_spans(text):
    """All time spans of `text`, in order, without overlaps."""
    found = []
    for match in _KEYED_SPAN.finditer(text):
        found.append((match.start(), match.end(), 0, match.group("t1"), match.group("t2"), False))
    for match in _BRACKET_SPAN.finditer(text):
        unitless = not any(unit_of(t) or ":" in t for t in (match.group("t1"), match.group("t2")))
        found.append((match.start(), match.end(), 1, match.group("t1"), match.group("t2"), unitless))
    position = 0
    while True:
        match = _GENERIC_SPAN.search(text, position)
        if match is None:
            break
        t1, t2, separator = match.group("t1"), match.group("t2"), match.group("sep").lower()
        has_unit = any(unit_of(t) or ":" in t for t in (t1, t2))
        # whitespace runs are single characters here, so a few characters of context are enough
        before = text[max(0, match.start("t1") - 3) : match.start("t1")].rstrip(" ")
        after = text[match.end() : match.end() + 3].lstrip(" ")
        bracketed = before.endswith(("[", "(", "{")) and after.startswith(("]", ")", "}"))
        lead = text[max(0, match.start() - 2) : match.start()].rstrip(" ")
        labelled = (lead == "" or lead.endswith("\n")) and after.startswith(":")  # "23-25: ..." opens its line
        prefix = (match.group("prefix") or "").strip().lower()
        if separator == "and":
            accepted = prefix == "between"
        else:
            accepted = has_unit or bool(prefix) or bracketed or labelled
        if accepted:
            found.append((match.start(), match.end(), 2, t1, t2, bracketed and not has_unit))
            position = match.end()
        else:
            position = match.start("t2")
    found.sort(key=lambda item: (item[0], item[2], -item[1]))
    spans, last_end = [], -1
    for start, end, _, t1, t2, fraction_ok in found:
        if start >= last_end:
            spans.append(Span(start, end, t1, t2, fraction_ok))
            last_end = end
    return spans


def clean_whitespace(text):
    """Runs of spaces / tabs -> one space, a line break with the whitespace around it -> one `\\n`, stripped."""
    text = re.sub(r"[^\S\n]+", " ", text)
    return re.sub(r" ?\n[\s]*", "\n", text).strip()


__all__ = ["TIME_VALUE", "RawEvent", "Span", "clean_whitespace", "find_spans", "parse_time", "span_values", "unit_of"]
