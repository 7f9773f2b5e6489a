"""The oracle expert features of a synthetic M-VAE video (`build_synthetic`): what perfect extractors would output
for the sampled frames, from the renderer's ground truth (poses, boxes, labels, the true scene graph and the
background frames with exactly the drawn foreground blanked)."""

import numpy as np

from dataset_scripts.synthetic_render import render_frame
from dataset_scripts.synthetic_world import NUM_KEYPOINTS, VEHICLE_SIZES, Plan
from processing.extractors_sherlock import CLIP_MEAN_FILL, warn_capacity
from processing.relations_sherlock import RELATION_PREDICATES, box_relations


MAX_PERSONS, MAX_OBJECTS, MAX_RELATIONS = 8, 16, 32
OBJECT_LABELS = {
    "person": 0,
    "bicycle": 1,
    "car": 2,
    "motorcycle": 3,
    "bus": 5,
    "truck": 7,
    "stop sign": 11,
    "bench": 13,
    "dog": 16,
    "handbag": 26,
    "potted plant": 58,
    "cell phone": 67,
}
"""Object class -> label id: COCO-80 contiguous ids (RT-DETR's `id2label`), all < 80."""
PERSON_LABEL = OBJECT_LABELS["person"]
RIDEABLE_LABELS = (OBJECT_LABELS["bicycle"], OBJECT_LABELS["motorcycle"])
HOLDING, RIDING = RELATION_PREDICATES.index("holding"), RELATION_PREDICATES.index("riding")


def _visible_box(box, W, H) -> tuple | None:
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], W), min(box[3], H)
    if x1 - x0 < 0.5 or y1 - y0 < 0.5:
        return None
    return (x0 / W, y0 / H, x1 / W, y1 / H)


def keypoints_inside(points: np.ndarray, W: int, H: int) -> np.ndarray:
    return (points[:, 0] >= 0) & (points[:, 0] < W) & (points[:, 1] >= 0) & (points[:, 1] < H)


def oracle_features(plan: Plan, frame_indices) -> dict[str, np.ndarray]:
    """The expert arrays of the sampled frames (see the module docstring), from the renderer's ground truth."""
    W, H = plan.width, plan.height
    F = len(frame_indices)
    out = {
        "pose_keypoints": np.zeros((F, MAX_PERSONS, NUM_KEYPOINTS, 3), np.float32),
        "pose_mask": np.zeros((F, MAX_PERSONS), bool),
        "object_boxes": np.zeros((F, MAX_OBJECTS, 4), np.float32),
        "object_labels": np.zeros((F, MAX_OBJECTS), np.int64),
        "object_mask": np.zeros((F, MAX_OBJECTS), bool),
        "relation_triplets": np.zeros((F, MAX_RELATIONS, 3), np.int64),
        "relation_mask": np.zeros((F, MAX_RELATIONS), bool),
        "background_frames": np.zeros((F, H, W, 3), np.uint8),
    }
    found = {"objects": [], "persons": [], "relations": []}  # per frame, before the capacities
    for f, index in enumerate(frame_indices):
        t = int(index) / plan.fps
        frame, mask, state = render_frame(plan, int(index), with_mask=True)
        background = frame.copy()
        background[mask] = CLIP_MEAN_FILL
        out["background_frames"][f] = background
        by_actor = {drawn.actor: drawn for drawn in state}
        objects = []  # (actor index, label, normalised box)
        for group in ("person", "vehicle", "object"):
            for i, actor in enumerate(plan.actors):
                kind = actor.kind
                this = "person" if kind == "person" else "vehicle" if kind in VEHICLE_SIZES else "object"
                if this != group:
                    continue
                drawn = by_actor[i]
                box = _visible_box(drawn.box, W, H)
                if box is None:
                    continue
                if kind == "person" and not keypoints_inside(drawn.keypoints, W, H).any():
                    continue
                objects.append((i, OBJECT_LABELS[kind], box))
        found["objects"].append(len(objects))
        found["persons"].append(sum(label == PERSON_LABEL for _, label, _ in objects[:MAX_OBJECTS]))
        objects = objects[:MAX_OBJECTS]
        position = {actor: k for k, (actor, _, _) in enumerate(objects)}
        persons = 0
        for k, (i, label, box) in enumerate(objects):
            out["object_boxes"][f, k] = box
            out["object_labels"][f, k] = label
            out["object_mask"][f, k] = True
            if label == PERSON_LABEL and persons < MAX_PERSONS:
                points = by_actor[i].keypoints
                out["pose_keypoints"][f, persons, :, :2] = np.clip(points / np.array([W, H]), 0.0, 1.0)
                out["pose_keypoints"][f, persons, :, 2] = keypoints_inside(points, W, H).astype(np.float32)
                out["pose_mask"][f, persons] = True
                persons += 1
        # The true scene graph: holding / riding from the renderer, then geometry for the other pairs.
        semantic = []
        for i, actor in enumerate(plan.actors):
            seg = actor.segment(t)[0]
            if seg.holder is not None and i in position and seg.holder in position:
                semantic.append((position[seg.holder], HOLDING, position[i]))
            if actor.kind == "person" and seg.ride is not None and i in position and seg.ride in position:
                semantic.append((position[i], RIDING, position[seg.ride]))
        related = {frozenset((s, o)) for s, _, o in semantic}
        geometric = []
        if len(objects) > 1:
            boxes = np.array([box for _, _, box in objects])
            labels = np.array([label for _, label, _ in objects])
            for s, p, o in box_relations(
                boxes, labels, person_label_id=PERSON_LABEL, rideable_label_ids=RIDEABLE_LABELS
            ):
                if p not in (HOLDING, RIDING) and frozenset((s, o)) not in related:
                    geometric.append((s, p, o))
        found["relations"].append(len(semantic) + len(geometric))
        triplets = (sorted(semantic) + geometric)[:MAX_RELATIONS]
        for r, triplet in enumerate(triplets):
            out["relation_triplets"][f, r] = triplet
            out["relation_mask"][f, r] = True
    for items, setting, capacity, ranking in (
        ("objects", "MAX_OBJECTS", MAX_OBJECTS, "first (persons, vehicles, objects)"),
        ("persons", "MAX_PERSONS", MAX_PERSONS, "first"),
        ("relations", "MAX_RELATIONS", MAX_RELATIONS, "first (true holding / riding first)"),
    ):
        warn_capacity("synthetic oracle", items, setting, capacity, found[items], ranking)
    return out


__all__ = [
    "MAX_OBJECTS",
    "MAX_PERSONS",
    "MAX_RELATIONS",
    "OBJECT_LABELS",
    "PERSON_LABEL",
    "keypoints_inside",
    "oracle_features",
]
