# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Geometric relation predicates between detected boxes: the default object-relation backend of Sherlock.

The object-relation expert reads, per frame, objects (detector class id + box) and relation triplets
`(subject index, predicate id, object index)`. Without a learned scene-graph model, the triplets come from the
geometry of the boxes alone: this module holds the predicate vocabulary (`RELATION_PREDICATES`, ids = positions) and
the pure function `box_relations` that applies the rules below. Everything is deterministic numpy; no model.

This file ships to the Hub as remote code: it may import only the standard library, numpy, torch, transformers and
single-dot siblings.

Conventions
-----------
Boxes are `(x1, y1, x2, y2)` normalised to [0, 1] by the frame width / height (y grows downwards), so every distance
below is in "frame units" (a gap of 0.1 is a tenth of the frame in that direction). For a box: `w = x2 - x1`,
`h = y2 - y1`, `area = w * h`, centre `(cx, cy)`, `diag = sqrt(w^2 + h^2)`. For a pair (a, b):

- `inter`: intersection area; `x_overlap` / `y_overlap`: overlap of the x / y extents (0 if disjoint);
- `gap`: Euclidean distance between the closest points of the two boxes (0 when they touch or overlap);
- `size = max(diag_a, diag_b)`: the scale that "near" / "far" are measured against;
- `overlaps substantially`: `inter >= OVERLAP_MIN_FRACTION * min(area_a, area_b)` (0.2).

Rules, for the ordered pair (subject a, object b); the first rule that matches gives the predicate:

1. `holding`: a is a person, b is not, b is small (`area_b <= HOLD_MAX_AREA_RATIO * area_a`, 0.25) and b's centre lies
   in a's hand region = the lower-middle band of a's box: x in `[x1_a - 0.15 w_a, x2_a + 0.15 w_a]` (arms may reach
   a little outside the box), y in `[y1_a + 0.35 h_a, y1_a + 0.85 h_a]` (between chest and knees).
2. `riding`: a is a person and b a rideable class (`rideable_label_ids`, e.g. bicycle, motorcycle, horse; see
   `RIDEABLE_CLASS_NAMES`); the boxes intersect, `x_overlap >= 0.5 * min(w_a, w_b)`, a's top is above b's top and a's
   centre above b's centre (the rider sits up), a's bottom reaches into b (`y2_a > y1_b + 0.25 h_b`: feet on the pedals
   / against the flanks, not merely touching the top) and not far below it (`y2_a <= y2_b + 0.1 h_b`).
3. `inside`: b is not a person, `inter >= 0.9 area_a` and `area_a <= 0.5 area_b` (a small box almost entirely within a
   larger one: a person in a car, a car in a garage). Persons are never containers: a box within a person's box is
   held, worn or in front of them, which the other rules describe.
4. `on`: a rests on top of b: `x_overlap >= 0.5 w_a`, a's top above b's top, a's centre above `y1_b + 0.1 h_b`, and
   a's bottom edge within the top band of b: `y1_b - 0.1 h_a <= y2_a <= y1_b + 0.3 h_b`.
5. `in front of` / `behind`: the boxes overlap substantially and their bottom edges differ by at least
   `0.1 * max(h_a, h_b)`; on a ground plane seen from above the horizon the box whose bottom edge is lower in the image
   is closer to the camera, so a is `in front of` b when `y2_a > y2_b`, else `behind`.
6. `overlapping`: the boxes overlap substantially (and no rule above applied).
7. `touching`: the boxes intersect a little, or `gap <= TOUCH_MAX_GAP` (0.01 frame units).
8. `above` / `below`: `x_overlap >= 0.3 * min(w_a, w_b)` (vertically aligned) and `gap <= NEAR_FACTOR * size` (1.0);
   `above` when `cy_a < cy_b`.
9. `left of` / `right of`: `y_overlap >= 0.3 * min(h_a, h_b)` (side by side) and `gap <= NEAR_FACTOR * size`;
   `left of` when `cx_a < cx_b`.
10. `near`: `gap <= NEAR_FACTOR * size` (diagonal neighbours).
11. `far from`: `gap >= FAR_FACTOR * size` (2.0). Pairs between near and far get no relation.

Each unordered pair yields at most ONE triplet: both directions are evaluated and the one whose predicate has the
better rank (rank = rule number above; `in front of`/`behind`, `above`/`below`, `left of`/`right of` share a rank) is
kept; on a tie (the symmetric predicates and the inverse pairs) the subject is the object with the lower index, i.e.
the higher detection score. Triplets are returned sorted by priority: rank, then pairs that involve a person first
(the experts reason about people), then smaller `gap`, then subject index, then object index. A caller that keeps only
the first `max_relations` keeps the most informative ones.
"""

from collections.abc import Iterable, Mapping

import numpy as np


# Predicate vocabulary: ids are positions. Order = priority (see `PREDICATE_RANKS`). At most 16 entries, so that a
# model configured with `num_relation_classes=16` covers it.
RELATION_PREDICATES = (
    "holding",
    "riding",
    "inside",
    "on",
    "in front of",
    "behind",
    "overlapping",
    "touching",
    "above",
    "below",
    "left of",
    "right of",
    "near",
    "far from",
)
# Rank of each predicate (rule number - 1): lower = kept first. Inverse predicates share a rank.
PREDICATE_RANKS = {
    "holding": 0,
    "riding": 1,
    "inside": 2,
    "on": 3,
    "in front of": 4,
    "behind": 4,
    "overlapping": 5,
    "touching": 6,
    "above": 7,
    "below": 7,
    "left of": 8,
    "right of": 8,
    "near": 9,
    "far from": 10,
}
# Bump when a rule or threshold changes: it is part of the extractor id, so cached relations are recomputed.
RELATION_RULES_VERSION = 1

# Detector class names (lower case, COCO and common synonyms) that a person can ride.
RIDEABLE_CLASS_NAMES = (
    "bicycle",
    "bike",
    "motorcycle",
    "motorbike",
    "scooter",
    "horse",
    "elephant",
    "camel",
    "donkey",
)

# Thresholds of the rules (see the module docstring).
HOLD_MAX_AREA_RATIO = 0.25
HAND_REGION_X_MARGIN = 0.15
HAND_REGION_Y = (0.35, 0.85)
OVERLAP_MIN_FRACTION = 0.2
TOUCH_MAX_GAP = 0.01
NEAR_FACTOR = 1.0
FAR_FACTOR = 2.0
_EPS = 1e-9


def predicate_id(name: str) -> int:
    """The id (position in `RELATION_PREDICATES`) of a predicate name; `ValueError` listing the names if unknown."""
    try:
        return RELATION_PREDICATES.index(name)
    except ValueError:
        raise ValueError(f"Unknown relation predicate {name!r}; known: {list(RELATION_PREDICATES)}.") from None


def rideable_label_ids(id2label: Mapping[int, str] | None, names: Iterable[str] = RIDEABLE_CLASS_NAMES) -> tuple:
    """Detector class ids whose (lower-cased) name is in `names`; empty when the label names are unknown."""
    if not id2label:
        return ()
    wanted = {name.lower() for name in names}
    return tuple(sorted(int(i) for i, name in id2label.items() if str(name).lower() in wanted))


def _predicate_matrix(boxes: np.ndarray, is_person: np.ndarray, rideable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicate id of every ordered pair (-1 = none) and the pairwise gap, both `(n, n)`; the diagonal is -1."""
    n = len(boxes)
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    w, h = np.maximum(x2 - x1, 0.0), np.maximum(y2 - y1, 0.0)
    area = w * h
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    diag = np.sqrt(w**2 + h**2)
    # Rows = subject a, columns = object b.
    A = (slice(None), None)  # subject index: a column vector, broadcast along the columns
    B = (None, slice(None))  # object index: a row vector, broadcast along the rows
    x_overlap = np.maximum(np.minimum(x2[A], x2[B]) - np.maximum(x1[A], x1[B]), 0.0)
    y_overlap = np.maximum(np.minimum(y2[A], y2[B]) - np.maximum(y1[A], y1[B]), 0.0)
    inter = x_overlap * y_overlap
    dx = np.maximum(np.maximum(x1[B] - x2[A], x1[A] - x2[B]), 0.0)
    dy = np.maximum(np.maximum(y1[B] - y2[A], y1[A] - y2[B]), 0.0)
    gap = np.sqrt(dx**2 + dy**2)
    size = np.maximum(diag[A], diag[B])
    min_w, min_h = np.minimum(w[A], w[B]), np.minimum(h[A], h[B])
    substantial = inter >= OVERLAP_MIN_FRACTION * np.minimum(area[A], area[B]) - _EPS
    substantial &= inter > 0
    person_a, person_b = is_person[A], is_person[B]

    rules = []
    # 1. holding
    hand_x1 = x1 - HAND_REGION_X_MARGIN * w
    hand_x2 = x2 + HAND_REGION_X_MARGIN * w
    hand_y1, hand_y2 = y1 + HAND_REGION_Y[0] * h, y1 + HAND_REGION_Y[1] * h
    in_hand = (cx[B] >= hand_x1[A]) & (cx[B] <= hand_x2[A]) & (cy[B] >= hand_y1[A]) & (cy[B] <= hand_y2[A])
    small = area[B] <= HOLD_MAX_AREA_RATIO * area[A]
    rules.append(("holding", person_a & ~person_b & small & in_hand))
    # 2. riding
    riding = person_a & rideable[B] & (inter > 0) & (x_overlap >= 0.5 * min_w - _EPS)
    riding &= (y1[A] < y1[B]) & (cy[A] < cy[B])
    riding &= (y2[A] > y1[B] + 0.25 * h[B]) & (y2[A] <= y2[B] + 0.1 * h[B])
    rules.append(("riding", riding))
    # 3. inside
    inside = ~person_b & (inter >= 0.9 * area[A] - _EPS) & (area[A] <= 0.5 * area[B]) & (area[A] > 0)
    rules.append(("inside", inside))
    # 4. on
    on = (x_overlap >= 0.5 * w[A] - _EPS) & (w[A] > 0) & (y1[A] < y1[B]) & (cy[A] < y1[B] + 0.1 * h[B])
    on &= (y2[A] >= y1[B] - 0.1 * h[A]) & (y2[A] <= y1[B] + 0.3 * h[B])
    rules.append(("on", on))
    # 5. in front of / behind
    depth = substantial & (np.abs(y2[A] - y2[B]) >= 0.1 * np.maximum(h[A], h[B]))
    rules.append(("in front of", depth & (y2[A] > y2[B])))
    rules.append(("behind", depth & (y2[A] < y2[B])))
    # 6. overlapping
    rules.append(("overlapping", substantial))
    # 7. touching
    rules.append(("touching", (inter > 0) | (gap <= TOUCH_MAX_GAP)))
    # 8. above / below, 9. left of / right of, 10. near
    near = gap <= NEAR_FACTOR * size
    aligned_v = near & (x_overlap >= 0.3 * min_w) & (min_w > 0)
    rules.append(("above", aligned_v & (cy[A] < cy[B])))
    rules.append(("below", aligned_v & (cy[A] > cy[B])))
    aligned_h = near & (y_overlap >= 0.3 * min_h) & (min_h > 0)
    rules.append(("left of", aligned_h & (cx[A] < cx[B])))
    rules.append(("right of", aligned_h & (cx[A] > cx[B])))
    rules.append(("near", near))
    # 11. far from
    rules.append(("far from", gap >= FAR_FACTOR * size))

    predicates = np.full((n, n), -1, dtype=np.int64)
    for name, match in rules:
        predicates[(predicates < 0) & match] = RELATION_PREDICATES.index(name)
    np.fill_diagonal(predicates, -1)
    return predicates, gap


def box_relations(
    boxes: np.ndarray,
    labels: np.ndarray,
    person_label_id: int | None = None,
    rideable_label_ids: Iterable[int] = (),
) -> list[tuple[int, int, int]]:
    """Relation triplets `(subject index, predicate id, object index)` from the geometry of a frame's boxes.

    The rules, thresholds and the priority order are in the module docstring. Each unordered pair of boxes gives at
    most one triplet; the list is sorted by priority (most informative first), so `relations[:max_relations]` keeps the
    best ones.

    Args:
        boxes (`np.ndarray` of shape `(n, 4)`): `(x1, y1, x2, y2)` normalised to [0, 1].
        labels (`np.ndarray` of shape `(n,)`): detector class ids.
        person_label_id (`int`, *optional*): the detector's person class (for `holding` / `riding`); `None` disables
            both rules.
        rideable_label_ids (iterable of `int`, *optional*, defaults to `()`): classes a person can ride (see
            `rideable_label_ids()` to derive them from the detector's `id2label`); empty disables `riding`.

    Returns:
        `list[tuple[int, int, int]]`: indices into `boxes` and predicate ids into `RELATION_PREDICATES`.

    Raises:
        `ValueError`: for boxes not of shape `(n, 4)` or labels of another length.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    labels = np.asarray(labels)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"`boxes` must have shape (n, 4), got {boxes.shape}.")
    if labels.shape != (len(boxes),):
        raise ValueError(f"`labels` has shape {labels.shape} but there are {len(boxes)} boxes.")
    n = len(boxes)
    if n < 2:
        return []
    is_person = labels == person_label_id if person_label_id is not None else np.zeros(n, dtype=bool)
    rideable = np.isin(labels, np.asarray(list(rideable_label_ids), dtype=labels.dtype))
    predicates, gap = _predicate_matrix(boxes, is_person, rideable)
    ranks = {RELATION_PREDICATES.index(name): rank for name, rank in PREDICATE_RANKS.items()}

    candidates = []
    for i in range(n):
        for j in range(i + 1, n):
            forward, backward = int(predicates[i, j]), int(predicates[j, i])
            options = [(ranks[p], 0, (i, p, j)) for p in (forward,) if p >= 0]
            options += [(ranks[p], 1, (j, p, i)) for p in (backward,) if p >= 0]
            if not options:
                continue
            rank, _, triplet = min(options)
            involves_person = bool(is_person[i] or is_person[j])
            candidates.append(((rank, not involves_person, float(gap[i, j]), triplet[0], triplet[2]), triplet))
    candidates.sort(key=lambda item: item[0])
    return [triplet for _, triplet in candidates]


__all__ = [
    "FAR_FACTOR",
    "NEAR_FACTOR",
    "PREDICATE_RANKS",
    "RELATION_PREDICATES",
    "RELATION_RULES_VERSION",
    "RIDEABLE_CLASS_NAMES",
    "box_relations",
    "predicate_id",
    "rideable_label_ids",
]
