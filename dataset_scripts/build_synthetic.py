"""`sherlock-build-synthetic`: a synthetic, M-VAE-like dataset of procedurally rendered videos with oracle expert
features (DESIGN §4, issue 4 part 3).

Every video is a short clip (a few seconds, small frames) of a scene with people drawn as stick figures from explicit
COCO-17 keypoints, vehicles drawn as boxes with wheels, and objects (bags, phones, signs, benches, dogs, plants). It
holds 0, 1 or 2 abnormal events whose evidence lies in different modalities, and the same actors do normal things
before and after them, so a model must look at the video (not only at the scene) to answer. The builder writes the
mp4s, the oracle expert features in the processor's feature-cache format (read by the `precomputed` extractor
backend) and one row per video in the M-VAE schema (`mvae_schema.make_row`).

    sherlock-build-synthetic --output-dir data/synthetic --num-videos 200 --seed 0

Event types (10 of the 11 `EVENT_TYPES`; **Water** is left out: no water scene is rendered) and where the evidence
lies:

| type | modality | what is drawn |
|---|---|---|
| Fighting | pose | two people walk up, talk, then punch (arms extended toward each other, alternating) |
| Pedestrian | pose | a walking person falls (rotation to lying), lies, gets up and walks on |
| Theft | relation | a bag lies next to its owner (who looks away); a passer-by picks it up (holding) and runs off |
| Robbery | relation | a person holds a bag / phone; another runs at them, takes it (holding moves), runs off; the victim flails |
| Accidents | relation | two vehicles suddenly touch (rear-end in a lane) or a car hits a crossing pedestrian, smoke puff |
| Animals | relation | a dog runs at a person and bites (dog touching the person's legs); the person flails |
| Violations | object | a vehicle drives the wrong way (facing and moving left in the right-moving lane) |
| Vandalism | object | a person kicks a sign / bench until it falls over (its box changes shape) |
| Fire | scene | a fire grows on a building (flames, smoke, the whole background darkens and reddens) |
| Forbidden | scene | a crouching person burns paper on the ground (small flame and smoke) |

Normal look-alikes occur in every video (with or without events): people walking, jogging, standing on the phone,
talking in pairs (gesturing), crouching to tie a shoe, carrying bags, walking a dog, cycling; traffic in the right
direction in its lane; signs, benches and plants that nobody touches. The event spans (start / end in seconds, one
decimal, within the video) cover the abnormal act: e.g. the punches, the fall until standing again, the pick-up until
the thief leaves the frame, the approach + impact + smoke of an accident, the whole fire from ignition to the end of
the video (the fire never goes out, so Fire is always a video's last event).

Scenes (canonical `SCENES` entries, each a distinct colour / texture layout so the background expert has evidence):
Street (facades, sidewalk, two-lane road), Road (tree line, verge, wide road), Shop (wall, shelves with products,
tiled floor), Lawn (trees, mown grass, path), Factory (pipes, machines, hazard stripe), Residence (house, yard,
driveway), School (brick building, playground court). Every scene allows at least 4 event types. Entities (subjects /
objects) are `ENTITIES` entries consistent with the drawing: `people`, `child` (a smaller figure, in School / Lawn),
`pedestrian` (on Street / Road), `thief`, `robber`, `dog`, `car`, `truck`, `bus`, `motorcycle`, `bag`, `phone`,
`facility` (sign, bench), `building`, `house`, `shop`, `paper`, `fire`, `none`.

Randomness: the whole video (scene, events, actors, colours, timing, duration) comes from
`numpy.random.default_rng([seed, index])`, so one video can be regenerated alone (`plan_video(seed, index, ...)`).
The first event type of video `index` is `order[index % 10]` for a seed-dependent permutation `order` of the 10 types
(types are balanced over consecutive indices); the number of events is 0 / 1 / 2 with probabilities
0.25 / 0.45 / 0.30; the second event type is drawn among those compatible with the scene. The split is "test" when
`(index * 0.618... + u) mod 1 < test_fraction` (`u` from the seed): a low-discrepancy, index-local choice.

Oracle features (what perfect extractors would output), written with `FeatureCache(<output>/features).save(
video_content_hash(mp4), timestamps, {"oracle": "synthetic-v1"}, arrays)` for the frames that the processor samples
with `num_frames=--num-frames` (read back from the written mp4 with `load_video(..., decode=False)`; the renderer's
state at those frame indices):

- `pose_keypoints (F, 8, 17, 3)` float32: x, y = pixel position / frame size, clipped to [0, 1], and score 1 for
  a keypoint inside the frame, 0 outside; `pose_mask (F, 8)`: one row per person drawn in the frame (at least one keypoint inside), in cast order;
- `object_boxes (F, 16, 4)` (normalised x1, y1, x2, y2, tight around what is drawn, clipped), `object_labels` (the
  label map below), `object_mask`: persons first (pose row p = object p), then vehicles, then objects;
- `relation_triplets (F, 32, 3)` (subject index, `RELATION_PREDICATES` id, object index), `relation_mask`: the true
  scene graph: `holding` (person holds bag / phone) and `riding` (person on bicycle / motorcycle) from the renderer's
  state first, then the geometric predicates of `relations_sherlock.box_relations` on the true boxes for the other
  pairs (without its own holding / riding guesses), at most 32;
- `background_frames (F, H, W, 3)` uint8: the rendered frames with exactly the drawn foreground (persons, vehicles,
  objects) set to `extractors_sherlock.CLIP_MEAN_FILL`. Fire, smoke and burning paper are background (no detector
  class covers them), so their evidence stays in the background frames. The background never holds the fill colour
  itself (such pixels are nudged by one), so the fill marks exactly the foreground.

Label map (`OBJECT_LABELS`): COCO-80 contiguous ids as RT-DETR's `id2label` numbers them (all < 80): person 0,
bicycle 1, car 2, motorcycle 3, bus 5, truck 7, stop sign 11, bench 13, dog 16, handbag 26, potted plant 58,
cell phone 67.

Output folder:

    videos/<video_id>.mp4                        H.264 (libx264 ultrafast, one thread: the same bytes for the same
                                                 seed with the same FFmpeg / x264 build) or mpeg4
    features/                                    the feature cache (safetensors + JSON manifests)
    default/{train,test}-0000i-of-0000n.parquet  M-VAE rows (`video` relative to videos/, real `duration`)
    README.md                                    the dataset card (licence cc-by-4.0, statistics)

Cost: the default build (200 videos of about 5 s at 8 fps, 128x96) takes about 12 s on 2 cores (`--num-workers`:
one process per core by default) and writes about 9 MB of video and 64 MB of features (mostly the uncompressed
background frames).

Rows follow `mvae_schema.make_row` with `source` fields `generator`, `seed`, `index`, `description` (what happens, in
words), `scene` (also for videos without event) and `evidence` (the modality of each event).
"""

import json
import logging
import math
import multiprocessing
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dataset_scripts.dataset_io import (
    ConfigFiles,
    card_header,
    markdown_table,
    push_dataset_folder,
    run_builder,
    write_card,
    write_split,
)
from dataset_scripts.mvae_schema import make_row, mvae_features
from processing import FeatureCache, load_video, video_content_hash
from processing.extractors_sherlock import CLIP_MEAN_FILL
from processing.relations_sherlock import RELATION_PREDICATES, box_relations
from processing.vocabulary_sherlock import EVENT_TYPES, SCENES


logger = logging.getLogger(__name__)

GENERATOR_ID = "synthetic-v1"
EXTRACTOR_IDS = {"oracle": GENERATOR_ID}
MAX_PERSONS, MAX_OBJECTS, MAX_RELATIONS = 8, 16, 32
SOURCE_FIELDS = ("generator", "seed", "index", "scene", "description", "evidence")
CONFIG = "default"
LICENSE = "cc-by-4.0"
NUM_KEYPOINTS = 17

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
VEHICLE_ENTITY = {"car": "car", "truck": "truck", "bus": "bus", "motorcycle": "motorcycle", "bicycle": "bicycle"}
HOLDING, RIDING = RELATION_PREDICATES.index("holding"), RELATION_PREDICATES.index("riding")


@dataclass(frozen=True)
class EventSpec:
    """A renderable event type: its evidence modality, the scenes it happens in, its span (seconds) and whether it
    lasts until the video ends (`persistent`, scheduled last) or needs the right-moving lane (`lane`)."""

    modality: str
    scenes: tuple
    durations: tuple
    persistent: bool = False
    lane: bool = False


EVENT_SPECS = {
    "Fighting": EventSpec("pose", ("Street", "Shop", "Lawn", "School", "Residence", "Factory"), (1.2, 2.0)),
    "Pedestrian": EventSpec("pose", ("Street", "Road", "Shop", "Lawn", "Factory", "School"), (1.2, 2.0)),
    "Theft": EventSpec("relation", ("Street", "Shop", "Lawn", "Residence", "School"), (1.3, 2.0)),
    "Robbery": EventSpec("relation", ("Street", "Shop", "Lawn", "Residence"), (1.3, 2.0)),
    "Accidents": EventSpec("relation", ("Road", "Street"), (1.4, 1.8), lane=True),
    "Animals": EventSpec("relation", ("Lawn", "Street", "Residence"), (1.4, 2.2)),
    "Violations": EventSpec("object", ("Road", "Street"), (1.3, 2.2), lane=True),
    "Vandalism": EventSpec("object", ("Street", "Road", "Lawn", "School", "Residence"), (1.4, 1.9)),
    "Fire": EventSpec("scene", ("Residence", "Street", "Factory", "Shop", "School"), (1.2, 2.5), persistent=True),
    "Forbidden": EventSpec("scene", ("Lawn", "Street", "Residence", "Factory"), (1.3, 2.2)),
}
SYNTHETIC_EVENT_TYPES = tuple(t for t in EVENT_TYPES if t in EVENT_SPECS)
MODALITIES = ("pose", "relation", "object", "scene")


@dataclass(frozen=True)
class SceneSpec:
    """A scene layout: the feet band of people (y, fraction of the height), the lane bottoms (upper lane moves left,
    lower lane moves right) and the normal activities that may fill it."""

    floor: tuple
    lanes: tuple | None
    distractors: tuple
    statics: tuple = ()
    fire_object: str | None = None


SCENE_SPECS = {
    "Street": SceneSpec(
        (0.60, 0.72), (0.855, 0.99), ("walker", "jogger", "stander", "pair", "dog_walker"), ("stop sign",), "building"
    ),
    "Road": SceneSpec((0.49, 0.56), (0.75, 0.975), ("walker", "jogger", "stander"), ("stop sign",)),
    "Shop": SceneSpec((0.68, 0.93), None, ("walker", "stander", "pair"), ("potted plant",), "shop"),
    "Lawn": SceneSpec(
        (0.62, 0.93), None, ("walker", "jogger", "stander", "pair", "dog_walker", "cyclist"), ("bench",)
    ),
    "Factory": SceneSpec((0.66, 0.93), None, ("walker", "stander", "pair"), (), "building"),
    "Residence": SceneSpec(
        (0.68, 0.93), None, ("walker", "stander", "pair", "dog_walker"), ("potted plant", "stop sign"), "house"
    ),
    "School": SceneSpec((0.66, 0.93), None, ("walker", "jogger", "stander", "pair"), ("stop sign",), "building"),
}
SYNTHETIC_SCENES = tuple(s for s in SCENES if s in SCENE_SPECS)

# Speeds in frame widths per second, sizes in frame heights.
WALK, RUN = 0.17, 0.55
ADULT, CHILD = 0.33, 0.24
VEHICLE_SIZES = {  # (width in frame widths, height in frame heights)
    "car": (0.28, 0.16),
    "truck": (0.38, 0.25),
    "bus": (0.44, 0.24),
    "motorcycle": (0.14, 0.12),
    "bicycle": (0.13, 0.12),
}
MIN_SECONDS = 4.0  # the shortest video: two events of the longest minimum span still fit
CADENCE = {"walk": 1.8, "run": 3.0, "punch": 2.6, "kick": 1.6, "talk": 1.3, "flail": 2.2, "ride": 1.4, "bite": 5.0}

# ------------------------------------------------------------------------------------------------------ skeleton

HIP_Y, TORSO, HEAD_UP, HEAD_RADIUS = 0.52, 0.28, 0.40, 0.07
THIGH = SHIN = 0.26
UPPER_ARM, FOREARM = 0.16, 0.15
SHOULDER_HALF, HIP_HALF = 0.06, 0.04
LEFT_WRIST = 9


def _pose_parameters(action: str, phase: float, amount: float, carry: str | None) -> dict:
    """Joint angles of a pose (radians from straight down, positive = forward), torso lean and fall fraction."""
    s, c = math.sin(phase), math.cos(phase)
    p = {"thigh": [0.04, -0.04], "knee": [0.0, 0.0], "arm": [0.12, -0.12], "elbow": [0.15, 0.15], "lean": 0.0}
    p["fall"] = 0.0
    if action == "walk":
        p.update(thigh=[0.4 * s, -0.4 * s], knee=[0.25 + 0.25 * c, 0.25 - 0.25 * c], arm=[-0.35 * s, 0.35 * s])
        p["elbow"] = [0.3, 0.3]
    elif action == "run":
        p.update(thigh=[0.8 * s, -0.8 * s], knee=[0.7 + 0.6 * c, 0.7 - 0.6 * c], arm=[-0.9 * s, 0.9 * s])
        p.update(elbow=[1.6, 1.6], lean=0.25)
    elif action == "punch":
        extension = (0.5 + 0.5 * s, 0.5 - 0.5 * s)
        p.update(thigh=[0.3, -0.25], knee=[0.25, 0.1], arm=[1.45, 1.35], lean=0.12)
        p["elbow"] = [1.9 * (1 - extension[0]), 1.9 * (1 - extension[1])]
    elif action == "kick":
        k = max(0.0, s)
        p.update(thigh=[0.15 + 1.25 * k, -0.12], knee=[0.5 * (1 - k), 0.05], arm=[-0.6, 0.9], lean=-0.2 * k)
        p["elbow"] = [0.4, 0.4]
    elif action == "crouch":
        a = amount
        p.update(thigh=[1.5 * a + 0.04, 1.25 * a - 0.04], knee=[2.5 * a, 2.3 * a], lean=0.55 * a)
        p.update(arm=[0.3 + 0.8 * a, 0.2 + 0.7 * a], elbow=[0.3, 0.3])
    elif action == "talk":
        p.update(arm=[0.6 + 0.3 * s, -0.12], elbow=[1.1, 0.15])
    elif action == "flail":
        p.update(thigh=[0.15, -0.15], arm=[2.5 + 0.5 * s, 2.3 - 0.5 * s], elbow=[0.3, 0.3], lean=-0.1)
    elif action == "ride":
        p.update(thigh=[1.35, 1.2], knee=[1.7 + 0.4 * s, 1.7 - 0.4 * s], arm=[1.1, 1.0], elbow=[0.1, 0.1])
        p["lean"] = 0.35
    elif action == "fall":
        a = amount
        p.update(thigh=[0.1, -0.1], arm=[0.4 + 1.8 * a, 0.3 + 1.6 * a], elbow=[0.2, 0.2], fall=a)
    if carry == "phone" and action in ("stand", "walk", "talk"):
        p["arm"][0], p["elbow"][0] = 0.55, 2.5
    elif carry is not None and action in ("stand", "walk", "talk", "run"):
        p["arm"][0], p["elbow"][0] = (0.45, 0.6) if action == "run" else (0.2, 0.15)
    return p


def _limb(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    return start + length * np.array([math.sin(angle), -math.cos(angle)])


def body_keypoints(
    action: str = "stand", phase: float = 0.0, amount: float = 0.0, carry: str | None = None, fall_dir: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The 17 COCO keypoints of a stick figure in body units (height 1; x forward, y up, feet on y = 0 at x = 0
    under the hips) and its head centre. `fall` rotates the whole body about the feet, `fall_dir=1` forward."""
    p = _pose_parameters(action, phase, amount, carry)
    hip = np.array([0.0, HIP_Y])
    up = np.array([math.sin(p["lean"]), math.cos(p["lean"])])
    shoulder = hip + TORSO * up
    head = hip + HEAD_UP * up
    shoulders = [shoulder + [SHOULDER_HALF, 0.0], shoulder - [SHOULDER_HALF, 0.0]]
    hips = [hip + [HIP_HALF, 0.0], hip - [HIP_HALF, 0.0]]
    elbows = [_limb(shoulders[i], p["arm"][i], UPPER_ARM) for i in range(2)]
    wrists = [_limb(elbows[i], p["arm"][i] + p["elbow"][i], FOREARM) for i in range(2)]
    knees = [_limb(hips[i], p["thigh"][i], THIGH) for i in range(2)]
    ankles = [_limb(knees[i], p["thigh"][i] - p["knee"][i], SHIN) for i in range(2)]
    face = [head + offset for offset in ([0.045, -0.005], [0.035, 0.02], [0.02, 0.025], [-0.01, 0.01], [-0.035, 0.0])]
    points = np.array([*face, *shoulders, *elbows, *wrists, *hips, *knees, *ankles, head], dtype=np.float64)
    points[:, 1] -= min(points[15, 1], points[16, 1])  # feet on the ground
    if p["fall"] > 0:
        angle = -fall_dir * p["fall"] * math.pi / 2
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        points = points @ rotation.T
        lowest = min(points[:-1, 1].min(), points[-1, 1] - HEAD_RADIUS)
        points[:, 1] -= min(lowest, 0.0)
    return points[:NUM_KEYPOINTS], points[NUM_KEYPOINTS]


# -------------------------------------------------------------------------------------------------------- actors


@dataclass
class Seg:
    """One keyframed segment of an actor: from `start` at `t0` to `end` at `t1` (normalised feet / base position),
    doing `action` with `amount` going from `amount[0]` to `amount[1]`."""

    t0: float
    t1: float
    action: str
    start: tuple
    end: tuple
    facing: int = 1
    amount: tuple = (0.0, 0.0)
    holder: int | None = None  # items: the person holding it
    ride: int | None = None  # persons: the vehicle ridden


@dataclass
class Actor:
    """A person, vehicle or object with its keyframes. `kind` is "person", a vehicle kind or an object kind."""

    kind: str
    segs: list = field(default_factory=list)
    color: tuple = (200, 200, 200)
    colors: tuple = ()
    height: float = ADULT  # persons
    phase0: float = 0.0
    fall_dir: int = 1
    carry: str | None = None  # persons: what they carry while holding something ("bag", "phone")

    def segment(self, t: float) -> tuple:
        """The segment active at `t` and the fraction of it done."""
        seg = self.segs[0]
        for candidate in self.segs:
            if candidate.t0 <= t + 1e-9:
                seg = candidate
        span = seg.t1 - seg.t0
        u = 1.0 if span <= 0 else min(max((t - seg.t0) / span, 0.0), 1.0)
        return seg, u


class Mover:
    """Builds an actor's segments one after another: `go(t, action, x, y)` = do `action` until `t`, moving to (x, y)."""

    def __init__(self, actor: Actor, x: float, y: float, t: float = 0.0, facing: int = 1):
        self.actor, self.x, self.y, self.t, self.facing = actor, x, y, t, facing

    def go(self, t, action="stand", x=None, y=None, facing=None, amount=(0.0, 0.0), holder=None, ride=None):
        x = self.x if x is None else x
        y = self.y if y is None else y
        if facing is None:
            facing = self.facing if abs(x - self.x) < 1e-9 else (1 if x > self.x else -1)
        if t > self.t + 1e-9:
            self.actor.segs.append(Seg(self.t, t, action, (self.x, self.y), (x, y), facing, amount, holder, ride))
        self.x, self.y, self.t, self.facing = x, y, max(t, self.t), facing
        return self


# --------------------------------------------------------------------------------------------------------- plans


@dataclass
class Effect:
    """A background effect: "fire" (grows from t0 and never stops), "flame" (burning paper, t0..t1), "puff" (smoke
    of a crash, t0..t1); position normalised, `size` in frame heights."""

    kind: str
    x: float
    y: float
    t0: float
    t1: float
    size: float
    phase: float = 0.0


@dataclass
class Plan:
    """Everything needed to render one video and to write its row."""

    seed: int
    index: int
    scene: str
    width: int
    height: int
    fps: float
    num_frames: int
    actors: list = field(default_factory=list)
    effects: list = field(default_factory=list)
    events: list = field(default_factory=list)
    evidence: list = field(default_factory=list)
    description: list = field(default_factory=list)
    background: np.ndarray | None = None
    burnable: tuple = (0.15, 0.85, 0.22, 0.4)
    blocked_lanes: set = field(default_factory=set)
    busy: list = field(default_factory=list)  # x intervals used by events

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def aspect(self) -> float:
        return self.width / self.height

    def hx(self, heights: float, person_height: float = ADULT) -> float:
        """A horizontal distance of `heights` person heights in frame widths."""
        return heights * person_height / self.aspect

    def add(self, actor: Actor) -> int:
        self.actors.append(actor)
        return len(self.actors) - 1


_SHIRTS = ((220, 60, 60), (60, 120, 230), (240, 200, 40), (40, 180, 90), (230, 120, 30), (160, 70, 200),
           (240, 240, 240), (30, 200, 210), (250, 110, 170))  # fmt: skip
_PANTS = ((40, 50, 90), (30, 30, 30), (110, 80, 50), (90, 90, 100), (20, 70, 60))
_SKINS = ((240, 200, 170), (200, 150, 110), (140, 95, 65), (90, 60, 40))
_CAR_COLORS = ((200, 30, 30), (30, 70, 200), (230, 230, 235), (20, 20, 25), (240, 190, 30), (40, 150, 60))
_DOG_COLORS = ((120, 80, 40), (30, 25, 20), (200, 170, 120), (235, 230, 220))


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def new_person(rng, child: bool = False) -> Actor:
    actor = Actor("person", height=CHILD if child else ADULT, phase0=float(rng.uniform(0, 2 * math.pi)))
    actor.colors = (_pick(rng, _SHIRTS), _pick(rng, _PANTS), _pick(rng, _SKINS))
    return actor


def new_vehicle(rng, kind: str) -> Actor:
    color = _pick(rng, _CAR_COLORS)
    if kind == "truck":
        color = _pick(rng, ((230, 230, 230), (200, 120, 40), (60, 90, 160)))
    elif kind == "bus":
        color = _pick(rng, ((240, 180, 20), (200, 40, 40), (40, 120, 200)))
    return Actor(kind, color=color)


def _floor_y(plan: Plan, rng) -> float:
    low, high = SCENE_SPECS[plan.scene].floor
    return float(rng.uniform(low, high))


def _free_x(plan: Plan, rng, margin: float = 0.12) -> float:
    """An x position outside the event regions (falls back to anywhere)."""
    for _ in range(20):
        x = float(rng.uniform(0.08, 0.92))
        if all(not (a - margin <= x <= b + margin) for a, b in plan.busy):
            return x
    return float(rng.uniform(0.08, 0.92))


def _exit_x(direction: int, margin: float = 0.14) -> float:
    return 1.0 + margin if direction > 0 else -margin


# ------------------------------------------------------------------------------------------------ event templates
# Each template adds its actors / effects for an event spanning [t0, t1] in the x interval `region` and returns the
# event quadruple (subject, object) and a sentence describing what happens.


def _event_fighting(plan, rng, t0, t1, region):
    child = plan.scene in ("School", "Lawn") and rng.random() < 0.5
    a, b = new_person(rng, child), new_person(rng, child)
    h = a.height
    xm = float(rng.uniform(region[0] + 0.1, region[1] - 0.1))
    y = _floor_y(plan, rng)
    gap = plan.hx(0.5, h)
    approach = min(max(t0 - 0.3, 0.0), float(rng.uniform(0.8, 1.6)))
    for actor, side in ((a, -1), (b, 1)):
        x_meet = xm + side * gap / 2
        x_start = x_meet + side * WALK * approach
        walk_start = max(t0 - 0.3 - approach, 0.0)
        m = Mover(actor, x_start, y, facing=-side)
        m.go(walk_start, "stand").go(t0 - 0.3, "walk", x=x_meet).go(t0, "talk", facing=-side)
        m.go(t1, "punch", facing=-side)
        rest = plan.duration - t1
        if side < 0:
            m.go(plan.duration, "walk", x=x_meet - WALK * rest)
        else:
            m.go(plan.duration, "stand", facing=-side)
        plan.add(actor)
    who = "child" if child else "people"
    return who, who, f"{'two children' if child else 'two people'} meet, talk, then fight with their fists"


def _event_pedestrian(plan, rng, t0, t1, region):
    child = plan.scene in ("School", "Lawn") and rng.random() < 0.4
    person = new_person(rng, child)
    direction = 1 if rng.random() < 0.5 else -1
    person.fall_dir = 1 if rng.random() < 0.6 else -1
    xf = float(rng.uniform(region[0] + 0.05, region[1] - 0.05))
    y = _floor_y(plan, rng)
    m = Mover(person, xf - direction * WALK * t0, y, facing=direction)
    m.go(t0, "walk", x=xf)
    m.go(t0 + 0.4, "fall", amount=(0.0, 1.0)).go(t1 - 0.5, "fall", amount=(1.0, 1.0))
    m.go(t1, "fall", amount=(1.0, 0.0)).go(min(t1 + 0.3, plan.duration), "stand")
    m.go(plan.duration, "walk", x=xf + direction * WALK * (plan.duration - m.t))
    plan.add(person)
    subject = "child" if child else "pedestrian" if plan.scene in ("Street", "Road") else "people"
    return subject, "none", f"a walking {'child' if child else 'person'} falls down, lies on the ground and gets up"


def _event_theft(plan, rng, t0, t1, region):
    owner, thief = new_person(rng), new_person(rng)
    xo = float(rng.uniform(region[0] + 0.1, region[1] - 0.05))
    exit_dir = -1 if xo < 0.5 else 1  # the thief leaves by the nearer edge, on the bag's side
    y = _floor_y(plan, rng)
    facing = -exit_dir  # the owner looks away from the bag
    xb = xo + exit_dir * plan.hx(0.4)
    x_thief = xb + exit_dir * plan.hx(0.22)
    owner_action = "talk" if rng.random() < 0.5 else "stand"
    if rng.random() < 0.5:
        owner.carry = "phone"
        phone = Actor("cell phone", color=(25, 25, 30))
        phone.segs.append(Seg(0.0, plan.duration, "held", (xo, y), (xo, y), holder=len(plan.actors)))
        owner_action = "stand"
    Mover(owner, xo, y, facing=facing).go(plan.duration, owner_action, facing=facing)
    owner_index = plan.add(owner)
    if owner.carry == "phone":
        phone.segs[0].holder = owner_index
        plan.add(phone)
    walk_time = min(t0, float(rng.uniform(1.0, 2.5)))
    m = Mover(thief, x_thief + exit_dir * WALK * walk_time, y, facing=-exit_dir)
    m.go(t0 - walk_time, "stand").go(t0, "walk", x=x_thief)
    m.go(t0 + 0.25, "crouch", amount=(0.0, 1.0), facing=-exit_dir)
    m.go(t0 + 0.5, "crouch", amount=(1.0, 0.0), facing=-exit_dir)
    x_out = _exit_x(exit_dir)
    m.go(t1, "run", x=x_out)
    m.go(plan.duration, "run", x=x_out + exit_dir * RUN * (plan.duration - t1))
    thief_index = plan.add(thief)
    thief.carry = "bag"
    bag = Actor("handbag", color=_pick(rng, ((120, 70, 30), (30, 30, 30), (180, 40, 60))))
    bag.segs.append(Seg(0.0, t0 + 0.25, "lie", (xb, y), (xb, y)))
    bag.segs.append(Seg(t0 + 0.25, plan.duration, "held", (xb, y), (xb, y), holder=thief_index))
    plan.add(bag)
    return "thief", "bag", "a bag lies next to its owner; a passer-by picks it up and runs away"


def _event_robbery(plan, rng, t0, t1, region):
    victim, robber = new_person(rng), new_person(rng)
    xv = float(rng.uniform(region[0] + 0.1, region[1] - 0.1))
    side = 1 if xv > 0.5 else -1  # the robber comes from and leaves by the nearer edge
    y = _floor_y(plan, rng)
    tc = t0 + 0.5
    item_kind = "cell phone" if rng.random() < 0.4 else "handbag"
    victim.carry = "phone" if item_kind == "cell phone" else "bag"
    mv = Mover(victim, xv - side * WALK * tc, y, facing=side)
    if item_kind == "cell phone":
        mv = Mover(victim, xv, y, facing=side)
        mv.go(tc, "stand", facing=side)
    else:
        mv.go(tc, "walk", x=xv)
    mv.go(t1, "flail", facing=side).go(plan.duration, "stand", facing=side)
    victim_index = plan.add(victim)
    x_contact = xv + side * plan.hx(0.3)
    x_run = x_contact + side * RUN * 0.5
    walk_time = min(t0, float(rng.uniform(1.0, 2.5)))
    mr = Mover(robber, x_run + side * WALK * walk_time, y, facing=-side)
    mr.go(t0 - walk_time, "stand", facing=-side).go(t0, "walk", x=x_run).go(tc, "run", x=x_contact)
    x_out = _exit_x(side)
    mr.go(t1, "run", x=x_out).go(plan.duration, "run", x=x_out + side * RUN * (plan.duration - t1))
    robber.carry = victim.carry
    robber_index = plan.add(robber)
    item = Actor(
        item_kind, color=(25, 25, 30) if item_kind == "cell phone" else _pick(rng, ((150, 40, 40), (40, 30, 20)))
    )
    item.segs.append(Seg(0.0, tc, "held", (xv, y), (xv, y), holder=victim_index))
    item.segs.append(Seg(tc, plan.duration, "held", (xv, y), (xv, y), holder=robber_index))
    plan.add(item)
    entity = "phone" if item_kind == "cell phone" else "bag"
    return "robber", entity, f"a robber runs at a person, snatches their {entity} and runs away"


def _drive(plan, vehicle, lane_y, keys):
    """Vehicle keyframes: `keys` = [(t, x), ...] with the vehicle's centre x."""
    (t_prev, x_prev) = keys[0]
    for t, x in keys[1:]:
        vehicle.segs.append(Seg(t_prev, t, "drive", (x_prev, lane_y), (x, lane_y), vehicle.fall_dir))
        t_prev, x_prev = t, x
    if not vehicle.segs:
        vehicle.segs.append(Seg(t_prev, t_prev, "drive", (x_prev, lane_y), (x_prev, lane_y), vehicle.fall_dir))


def _add_rider(plan, rng, vehicle_index):
    rider = new_person(rng)
    rider.segs.append(Seg(0.0, plan.duration, "ride", (0.0, 0.0), (0.0, 0.0), ride=vehicle_index))
    return plan.add(rider)


def _event_accidents(plan, rng, t0, t1, region):
    lanes = SCENE_SPECS[plan.scene].lanes
    lane_y = lanes[1]
    tc = t0 + 0.5
    duration = plan.duration
    if rng.random() < 0.5:  # rear-end collision in the right-moving lane
        plan.blocked_lanes.add(1)
        kind_b = _pick(rng, ("car", "truck", "bus"))
        kind_a = _pick(rng, ("car", "car", "motorcycle", "truck"))
        wb, wa = VEHICLE_SIZES[kind_b][0], VEHICLE_SIZES[kind_a][0]
        xb = float(rng.uniform(0.5, 0.75))
        vb, va = float(rng.uniform(0.25, 0.35)), float(rng.uniform(0.55, 0.7))
        tb = max(tc - float(rng.uniform(0.8, 1.5)), 0.2)
        b = new_vehicle(rng, kind_b)
        _drive(
            plan, b, lane_y, [(0.0, xb - vb * tb), (tb, xb), (tc, xb), (tc + 0.2, xb + 0.01), (duration, xb + 0.01)]
        )
        plan.add(b)
        xa = xb - wb / 2 - wa / 2 + 0.012
        a = new_vehicle(rng, kind_a)
        _drive(plan, a, lane_y, [(0.0, xa - va * tc), (tc, xa), (tc + 0.2, xa + 0.008), (duration, xa + 0.008)])
        a_index = plan.add(a)
        if kind_a == "motorcycle":
            _add_rider(plan, rng, a_index)
        plan.effects.append(Effect("puff", xb - wb / 2, lane_y - 0.1, tc, t1, 0.12, float(rng.uniform(0, 6))))
        return kind_a, kind_b, f"a {kind_a} drives into the back of a {kind_b} that waits in its lane"
    plan.blocked_lanes.update({0, 1})  # a car hits a pedestrian crossing the road
    kind_a = _pick(rng, ("car", "car", "truck"))
    wa = VEHICLE_SIZES[kind_a][0]
    xp = float(rng.uniform(0.45, 0.75))
    y0 = SCENE_SPECS[plan.scene].floor[1] - 0.01
    y_hit = lane_y - 0.02
    person = new_person(rng)
    person.fall_dir = 1
    m = Mover(person, xp - WALK * max(tc - 1.4, 0.0), y0, facing=1)
    m.go(max(tc - 1.4, 0.0), "walk", x=xp).go(tc, "walk", x=xp + 0.03, y=y_hit, facing=1)
    m.go(tc + 0.4, "fall", amount=(0.0, 1.0), facing=1).go(t1 - 0.1, "fall", amount=(1.0, 1.0))
    m.go(t1 + 0.5, "fall", amount=(1.0, 0.0)).go(min(t1 + 0.8, duration), "stand")
    m.go(duration, "walk", x=xp - 0.05, y=y0)  # back to the side of the road
    plan.add(person)
    xa = xp + 0.03 - wa / 2 - plan.hx(0.05)
    va = float(rng.uniform(0.5, 0.65))
    a = new_vehicle(rng, kind_a)
    _drive(plan, a, lane_y, [(0.0, xa - va * tc), (tc, xa), (tc + 0.3, xa + 0.05), (duration, xa + 0.05)])
    plan.add(a)
    plan.effects.append(Effect("puff", xa + wa / 2, lane_y - 0.12, tc, t1, 0.1, float(rng.uniform(0, 6))))
    return kind_a, "pedestrian", f"a {kind_a} hits a pedestrian who crosses the road; the pedestrian falls"


def _event_animals(plan, rng, t0, t1, region):
    child = plan.scene == "Lawn" and rng.random() < 0.4
    victim = new_person(rng, child)
    xv = float(rng.uniform(region[0] + 0.08, region[1] - 0.08))
    y = _floor_y(plan, rng)
    side = 1 if xv < 0.5 else -1  # the dog waits on the wider side
    Mover(victim, xv, y, facing=side).go(t0 + 0.5, "stand", facing=side).go(t1 - 0.3, "flail", facing=side).go(
        plan.duration, "stand", facing=side
    )
    plan.add(victim)
    dog = Actor("dog", color=_pick(rng, _DOG_COLORS), phase0=float(rng.uniform(0, 6)))
    x_far = xv + side * float(rng.uniform(0.3, 0.4))
    x_bite = xv + side * plan.hx(0.18)
    md = Mover(dog, x_far + side * 0.08, y + 0.01, facing=-side)
    md.go(max(t0 - 0.8, 0.0), "walk", x=x_far, facing=-side).go(t0, "stand", facing=-side)
    md.go(t0 + 0.5, "run", x=x_bite).go(t1 - 0.3, "bite", facing=-side)
    md.go(plan.duration, "run", x=x_bite + side * RUN * (plan.duration - t1 + 0.3), facing=side)
    plan.add(dog)
    who = "child" if child else "people"
    return "dog", who, f"a dog runs at a {'child' if child else 'person'} and bites; the victim waves the arms"


def _event_violations(plan, rng, t0, t1, region):
    plan.blocked_lanes.add(1)
    lane_y = SCENE_SPECS[plan.scene].lanes[1]
    kind = _pick(rng, ("car", "car", "motorcycle", "truck"))
    w = VEHICLE_SIZES[kind][0]
    vehicle = new_vehicle(rng, kind)
    vehicle.fall_dir = -1  # facing left in the right-moving lane
    speed = (1.0 + w) / (t1 - t0)
    x_in = 1.0 + w / 2
    _drive(
        plan,
        vehicle,
        lane_y,
        [(0.0, x_in + speed * t0), (t0, x_in), (plan.duration, x_in - speed * (plan.duration - t0))],
    )
    index = plan.add(vehicle)
    if kind == "motorcycle":
        _add_rider(plan, rng, index)
    return kind, "none", f"a {kind} drives the wrong way in the lane of the traffic that goes right"


def _event_vandalism(plan, rng, t0, t1, region):
    kind = "bench" if plan.scene == "Lawn" else "stop sign"
    vandal = new_person(rng)
    facing = 1 if rng.random() < 0.5 else -1
    xs = float(rng.uniform(region[0] + 0.1, region[1] - 0.1))
    y = _floor_y(plan, rng)
    half = 0.11 / plan.aspect if kind == "bench" else 0.0
    xv = xs - facing * (half + plan.hx(0.42))
    walk_time = min(t0, float(rng.uniform(1.0, 2.5)))
    m = Mover(vandal, xv - facing * WALK * walk_time, y, facing=facing)
    m.go(t0 - walk_time, "stand").go(t0 - 0.1, "walk", x=xv).go(t0, "stand", facing=facing)
    m.go(t0 + 1.0, "kick", facing=facing).go(t1, "stand", facing=facing)
    m.go(plan.duration, "walk", x=xv - facing * WALK * (plan.duration - t1))
    plan.add(vandal)
    target = Actor(kind, color=(150, 90, 50) if kind == "bench" else (200, 30, 30), fall_dir=facing)
    target.segs.append(Seg(0.0, t0 + 0.8, "static", (xs, y - 0.005), (xs, y - 0.005)))
    target.segs.append(Seg(t0 + 0.8, t0 + 1.2, "static", (xs, y - 0.005), (xs, y - 0.005), amount=(0.0, 1.0)))
    target.segs.append(Seg(t0 + 1.2, plan.duration, "static", (xs, y - 0.005), (xs, y - 0.005), amount=(1.0, 1.0)))
    plan.add(target)
    return "people", "facility", f"a person kicks a {kind.replace('stop ', '')} until it falls over"


def _event_fire(plan, rng, t0, t1, region):
    x0, x1, y0, y1 = plan.burnable
    plan.effects.append(
        Effect(
            "fire", float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), t0, math.inf, 0.1, float(rng.uniform(0, 6))
        )
    )
    obj = SCENE_SPECS[plan.scene].fire_object
    return "fire", obj, f"a fire breaks out on the {obj} and grows; smoke darkens the scene"


def _event_forbidden(plan, rng, t0, t1, region):
    person = new_person(rng)
    facing = 1 if rng.random() < 0.5 else -1
    xp = float(rng.uniform(region[0] + 0.08, region[1] - 0.08))
    y = _floor_y(plan, rng)
    walk_time = min(max(t0 - 0.4, 0.0), float(rng.uniform(1.0, 2.5)))
    m = Mover(person, xp - facing * WALK * walk_time, y, facing=facing)
    m.go(t0 - 0.4 - walk_time, "stand").go(t0 - 0.4, "walk", x=xp)
    m.go(t0 - 0.1, "crouch", amount=(0.0, 1.0), facing=facing).go(t1, "crouch", amount=(1.0, 1.0), facing=facing)
    m.go(t1 + 0.3, "crouch", amount=(1.0, 0.0), facing=facing)
    m.go(plan.duration, "walk", x=xp - facing * WALK * (plan.duration - m.t))
    plan.add(person)
    plan.effects.append(Effect("flame", xp + facing * plan.hx(0.4), y, t0, t1, 0.05, float(rng.uniform(0, 6))))
    return "people", "paper", "a crouching person burns paper on the ground"


TEMPLATES = {
    "Fighting": _event_fighting,
    "Pedestrian": _event_pedestrian,
    "Theft": _event_theft,
    "Robbery": _event_robbery,
    "Accidents": _event_accidents,
    "Animals": _event_animals,
    "Violations": _event_violations,
    "Vandalism": _event_vandalism,
    "Fire": _event_fire,
    "Forbidden": _event_forbidden,
}


# --------------------------------------------------------------------------------------------------- distractors


def _add_distractor(plan, rng, kind):
    """Normal activity `kind`; returns the number of people it added."""
    duration = plan.duration
    y = _floor_y(plan, rng)
    if kind in ("walker", "jogger", "dog_walker"):
        person = new_person(rng, child=plan.scene == "School" and rng.random() < 0.5)
        direction = 1 if rng.random() < 0.5 else -1
        speed = RUN * float(rng.uniform(0.7, 0.9)) if kind == "jogger" else WALK * float(rng.uniform(0.8, 1.2))
        x_mid = float(rng.uniform(0.1, 0.9))
        t_mid = float(rng.uniform(0.0, duration))
        action = "run" if kind == "jogger" else "walk"
        Mover(person, x_mid - direction * speed * t_mid, y, facing=direction).go(
            duration, action, x=x_mid + direction * speed * (duration - t_mid)
        )
        index = plan.add(person)
        if kind == "walker" and rng.random() < 0.5:
            person.carry = "phone" if rng.random() < 0.4 else "bag"
            item = Actor("cell phone" if person.carry == "phone" else "handbag", color=(60, 40, 30))
            item.segs.append(Seg(0.0, duration, "held", (0, 0), (0, 0), holder=index))
            plan.add(item)
        if kind == "dog_walker":
            dog = Actor("dog", color=_pick(rng, _DOG_COLORS), phase0=float(rng.uniform(0, 6)))
            lead = direction * plan.hx(0.45)
            Mover(dog, x_mid - direction * speed * t_mid + lead, y + 0.015, facing=direction).go(
                duration, "walk", x=x_mid + direction * speed * (duration - t_mid) + lead
            )
            plan.add(dog)
        plan.description.append(f"a person {'jogs' if kind == 'jogger' else 'walks'} by")
        return 1
    if kind == "stander":
        person = new_person(rng)
        x = _free_x(plan, rng)
        facing = 1 if rng.random() < 0.5 else -1
        m = Mover(person, x, y, facing=facing)
        index = plan.add(person)
        if rng.random() < 0.4:
            person.carry = "phone"
            phone = Actor("cell phone", color=(25, 25, 30))
            phone.segs.append(Seg(0.0, duration, "held", (0, 0), (0, 0), holder=index))
            plan.add(phone)
            m.go(duration, "stand", facing=facing)
            plan.description.append("a person stands on the phone")
        elif rng.random() < 0.5:  # ties a shoe: crouches for a moment
            tc = float(rng.uniform(0.2, max(duration - 1.5, 0.3)))
            m.go(tc, "stand", facing=facing).go(tc + 0.3, "crouch", amount=(0.0, 1.0), facing=facing)
            m.go(tc + 1.0, "crouch", amount=(1.0, 1.0), facing=facing)
            m.go(tc + 1.3, "crouch", amount=(1.0, 0.0), facing=facing).go(duration, "stand", facing=facing)
            plan.description.append("a person crouches to tie a shoe")
        else:
            m.go(duration, "stand", facing=facing)
            plan.description.append("a person stands")
        return 1
    if kind == "pair":
        x = _free_x(plan, rng, margin=0.18)
        gap = plan.hx(0.7)
        for side in (-1, 1):
            person = new_person(rng)
            Mover(person, x + side * gap / 2, y, facing=-side).go(
                duration, "talk" if side < 0 else "stand", facing=-side
            )
            plan.add(person)
        plan.description.append("two people stand and talk")
        return 2
    if kind == "cyclist":
        person = new_person(rng)
        bike = new_vehicle(rng, "bicycle")
        direction = 1 if rng.random() < 0.5 else -1
        bike.fall_dir = direction
        speed = float(rng.uniform(0.25, 0.35))
        x_mid, t_mid = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.0, duration))
        _drive(
            plan,
            bike,
            y + 0.02,
            [(0.0, x_mid - direction * speed * t_mid), (duration, x_mid + direction * speed * (duration - t_mid))],
        )
        index = plan.add(bike)
        person.segs.append(Seg(0.0, duration, "ride", (0, 0), (0, 0), ride=index))
        plan.add(person)
        plan.description.append("a cyclist rides by")
        return 1
    raise ValueError(f"unknown distractor {kind!r}")


def _add_traffic(plan, rng):
    """Vehicles driving in their lane's direction (upper lane left, lower lane right), one speed per lane, spaced so
    that they never touch."""
    lanes = SCENE_SPECS[plan.scene].lanes
    duration = plan.duration
    for lane, lane_y in enumerate(lanes):
        if lane in plan.blocked_lanes:
            continue
        direction = -1 if lane == 0 else 1
        speed = float(rng.uniform(0.25, 0.4))
        t_enter = float(rng.uniform(-2.5, 0.5))
        for _ in range(int(rng.integers(0, 3)) + (1 if lane == 1 else 0)):
            kind = _pick(rng, ("car", "car", "car", "truck", "bus", "motorcycle", "bicycle"))
            w = VEHICLE_SIZES[kind][0]
            if t_enter > duration - 0.3:
                break
            x_in = -w / 2 if direction > 0 else 1.0 + w / 2
            vehicle = new_vehicle(rng, kind)
            vehicle.fall_dir = direction
            _drive(
                plan,
                vehicle,
                lane_y,
                [
                    (0.0, x_in - direction * speed * t_enter),
                    (duration, x_in + direction * speed * (duration - t_enter)),
                ],
            )
            index = plan.add(vehicle)
            if kind in ("motorcycle", "bicycle"):
                _add_rider(plan, rng, index)
            plan.description.append(f"a {kind} drives by")
            t_enter += (w + 0.45 + float(rng.uniform(0.0, 0.6))) / speed


def _add_statics(plan, rng, taken: set):
    for kind in SCENE_SPECS[plan.scene].statics:
        if kind in taken or rng.random() < 0.5:
            continue
        x = _free_x(plan, rng)
        y = _floor_y(plan, rng) - 0.005
        color = {"stop sign": (200, 30, 30), "bench": (150, 90, 50), "potted plant": (60, 150, 60)}[kind]
        actor = Actor(kind, color=color)
        actor.segs.append(Seg(0.0, plan.duration, "static", (x, y), (x, y)))
        plan.add(actor)


# ---------------------------------------------------------------------------------------------------- scheduling


def event_type_order(seed: int) -> tuple:
    """The seed's permutation of the synthetic event types: video `index`'s first event is `order[index % 10]`."""
    permutation = np.random.default_rng([seed, 0x5EED]).permutation(len(SYNTHETIC_EVENT_TYPES))
    return tuple(SYNTHETIC_EVENT_TYPES[i] for i in permutation)


def event_count(seed: int, index: int) -> int:
    """0, 1 or 2 events for 25 / 45 / 30 % of the indices: `(index * (sqrt(2) - 1) + u) mod 1` against those
    fractions (`u` from the seed), a low-discrepancy sequence, so every range of indices holds them almost exactly."""
    offset = float(np.random.default_rng([seed, 0xC0]).random())
    u = (index * 0.41421356237309515 + offset) % 1.0
    return 0 if u < 0.25 else 1 if u < 0.70 else 2


def split_of(seed: int, index: int, test_fraction: float) -> str:
    """ "test" for a low-discrepancy `test_fraction` of the indices (index-local, so a video can be rebuilt alone)."""
    offset = float(np.random.default_rng([seed, 0x5917]).random())
    return "test" if (index * 0.6180339887498949 + offset) % 1.0 < test_fraction else "train"


def _schedule(rng, types: list, duration: float) -> list[tuple]:
    """Non-overlapping spans (t0, t1) for the events (in order), one decimal, within [0.4, duration - 0.2] with gaps of
    at least 0.3 s; a persistent event ends at the video's end (rounded down to 0.1 s)."""
    lead, gap, tail = 0.4, 0.3, 0.2
    end_time = math.floor(duration * 10 + 1e-6) / 10
    lows = [EVENT_SPECS[t].durations[0] for t in types]
    wanted = [float(rng.uniform(*EVENT_SPECS[t].durations)) for t in types]
    available = duration - lead - tail - gap * (len(types) - 1)
    if sum(lows) > available:
        raise ValueError(f"a {duration:.2f} s video is too short for events {types}; use a longer --duration")
    if sum(wanted) > available:
        scale = (available - sum(lows)) / (sum(wanted) - sum(lows))
        wanted = [low + (w - low) * scale for low, w in zip(lows, wanted)]
    slack = available - sum(wanted)
    shares = rng.dirichlet(np.ones(len(types) + 1)) * slack
    spans, t = [], lead
    for i, (event_type, length) in enumerate(zip(types, wanted)):
        t += shares[i]
        t0 = math.ceil(t * 10 - 1e-6) / 10
        t1 = math.floor((t + length) * 10 + 1e-6) / 10
        if EVENT_SPECS[event_type].persistent:
            t1 = end_time
        spans.append((t0, max(t1, t0 + 0.5)))
        t += length + gap
    return spans


def plan_video(
    seed: int, index: int, duration: float = 5.0, fps: float = 8.0, size: tuple = (128, 96), order: tuple | None = None
) -> Plan:
    """Everything about video `index` of the build with `seed`: scene, events, actors, background (deterministic)."""
    rng = np.random.default_rng([seed, index])
    order = order or event_type_order(seed)
    num_frames = max(math.ceil(MIN_SECONDS * fps - 1e-9), int(round(duration * float(rng.uniform(0.8, 1.2)) * fps)))
    count = event_count(seed, index)
    types: list[str] = []
    if count == 0:
        scene = _pick(rng, SYNTHETIC_SCENES)
    else:
        types.append(order[index % len(order)])
        scene = _pick(rng, EVENT_SPECS[types[0]].scenes)
        if count == 2:
            first = EVENT_SPECS[types[0]]
            candidates = [
                t
                for t in SYNTHETIC_EVENT_TYPES
                if t != types[0]
                and scene in EVENT_SPECS[t].scenes
                and not (EVENT_SPECS[t].persistent and first.persistent)
                and not (EVENT_SPECS[t].lane and first.lane)
            ]
            weights = np.array([1.0 / len(EVENT_SPECS[t].scenes) for t in candidates])  # rarer types: likelier
            types.append(candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))])
            rng.shuffle(types)
            types.sort(key=lambda t: EVENT_SPECS[t].persistent)  # a persistent event comes last
    plan = Plan(seed, index, scene, size[0], size[1], fps, num_frames)
    plan.background, plan.burnable = paint_background(scene, size, rng)
    spans = _schedule(rng, types, plan.duration)
    regions = [(0.15, 0.85)] if len(types) == 1 else [(0.06, 0.48), (0.52, 0.94)]
    if len(types) == 2 and rng.random() < 0.5:
        regions.reverse()
    for event_type, (t0, t1), region in zip(types, spans, regions):
        plan.busy.append(region)
        subject, obj, sentence = TEMPLATES[event_type](plan, rng, t0, t1, region)
        plan.events.append(
            {"start": t0, "end": t1, "subject": subject, "event_type": event_type, "object": obj, "scene": scene}
        )
        plan.evidence.append(f"{event_type}: {EVENT_SPECS[event_type].modality}")
        plan.description.append(f"{t0:.1f}-{t1:.1f}s: {sentence}")
    people = sum(actor.kind == "person" for actor in plan.actors)
    spec = SCENE_SPECS[scene]
    wanted_people = int(rng.integers(1, 4))
    for _ in range(4):
        if people >= wanted_people or people >= 4:
            break
        people += _add_distractor(plan, rng, _pick(rng, spec.distractors))
    if spec.lanes is not None:
        _add_traffic(plan, rng)
    _add_statics(plan, rng, {actor.kind for actor in plan.actors if actor.segs and actor.segs[0].action == "static"})
    return plan


# ------------------------------------------------------------------------------------------------------ geometry


@dataclass
class Drawn:
    """One actor at one frame: its drawing primitives (pixels), tight box (pixels), depth and what it is."""

    actor: int
    kind: str
    prims: list
    box: tuple
    depth: float
    keypoints: np.ndarray | None = None  # persons: (17, 2) pixels


def _rotate(points, pivot, angle):
    c, s = math.cos(angle), math.sin(angle)
    points = np.asarray(points, dtype=np.float64) - pivot
    return points @ np.array([[c, -s], [s, c]]).T + pivot


def _bounds(prims) -> tuple:
    xs, ys = [], []
    for prim in prims:
        kind, points = prim[0], np.asarray(prim[1], dtype=np.float64).reshape(-1, 2)
        pad = prim[3] / 2 if kind == "line" else 0.5 if kind == "poly" else 0.0
        xs += [points[:, 0].min() - pad, points[:, 0].max() + pad]
        ys += [points[:, 1].min() - pad, points[:, 1].max() + pad]
    return (min(xs), min(ys), max(xs), max(ys))


def _shade(color, factor):
    return tuple(int(min(255, max(0, round(c * factor)))) for c in color)


def _person_prims(points, head, colors, h_px):
    shirt, pants, skin = colors
    width = max(1, int(round(0.065 * h_px)))
    p = [tuple(map(float, q)) for q in points]
    hip_c = tuple((np.asarray(p[11]) + p[12]) / 2)
    shoulder_c = tuple((np.asarray(p[5]) + p[6]) / 2)
    far_shirt, far_pants = _shade(shirt, 0.7), _shade(pants, 0.7)
    r = HEAD_RADIUS * h_px
    return [
        ("line", [p[12], p[14], p[16]], far_pants, width),
        ("line", [p[6], p[8], p[10]], far_shirt, width),
        ("line", [p[11], p[12]], pants, width),
        ("line", [hip_c, shoulder_c], shirt, width + 1),
        ("line", [p[5], p[6]], shirt, width),
        ("line", [p[11], p[13], p[15]], pants, width),
        ("line", [p[5], p[7], p[9]], shirt, width),
        ("ellipse", [(head[0] - r, head[1] - r), (head[0] + r, head[1] + r)], skin),
    ]


def _rect(x0, y0, x1, y1, color):
    """An axis-aligned rectangle as a polygon primitive (corners in any order)."""
    return ("poly", [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color)


def _vehicle_prims(kind, color, cx, bottom, facing, W, H):
    """A vehicle seen from the side, `facing` +1 (right) or -1, centred on `cx` with its wheels on `bottom` (pixels)."""
    w, h = VEHICLE_SIZES[kind][0] * W, VEHICLE_SIZES[kind][1] * H
    top = bottom - h

    def fx(u):  # u in [-0.5, 0.5] along the vehicle, +0.5 = front
        return cx + facing * u * w

    def fy(v):  # v in [0, 1] up from the bottom
        return bottom - v * h

    glass, tyre, light = (150, 200, 230), (30, 30, 30), (255, 230, 120)
    if kind in ("car", "truck", "bus"):
        r = (0.19 if kind == "car" else 0.15) * h
        if kind == "car":
            prims = [_rect(fx(-0.5), bottom - r, fx(0.5), fy(0.62), color)]
            prims.append(("poly", [(fx(-0.32), fy(0.62)), (fx(0.22), fy(0.62)), (fx(0.1), top), (fx(-0.25), top)],
                          _shade(color, 0.85)))  # fmt: skip
            prims.append(("poly", [(fx(-0.27), fy(0.64)), (fx(0.17), fy(0.64)), (fx(0.07), fy(0.9)),
                                   (fx(-0.22), fy(0.9))], glass))  # fmt: skip
            wheels = (-0.3, 0.3)
        elif kind == "truck":
            cab = (70, 80, 160) if color != (60, 90, 160) else (200, 200, 200)
            prims = [_rect(fx(-0.5), bottom - r, fx(0.18), top, color)]
            prims.append(("poly", [(fx(0.2), bottom - r), (fx(0.5), bottom - r), (fx(0.5), fy(0.55)),
                                   (fx(0.4), fy(0.72)), (fx(0.2), fy(0.72))], cab))  # fmt: skip
            prims.append(("poly", [(fx(0.26), fy(0.68)), (fx(0.4), fy(0.68)), (fx(0.46), fy(0.55)),
                                   (fx(0.26), fy(0.55))], glass))  # fmt: skip
            wheels = (-0.35, -0.2, 0.35)
        else:
            prims = [_rect(fx(-0.5), bottom - r, fx(0.5), top, color)]
            prims += [_rect(fx(u), fy(0.85), fx(u + 0.09), fy(0.55), glass) for u in np.linspace(-0.4, 0.32, 6)]
            wheels = (-0.32, 0.3)
        prims.append(_rect(fx(0.47), fy(0.45), fx(0.5), fy(0.35), light))
        prims += [("ellipse", [(fx(u) - r, bottom - 2 * r), (fx(u) + r, bottom)], tyre) for u in wheels]
        return prims
    r = 0.3 * h
    width = max(1, int(round(0.06 * h)))
    centres = [(fx(-0.3), bottom - r), (fx(0.3), bottom - r)]
    prims = []
    for x, y in centres:
        circle = [(x - r, y - r), (x + r, y + r)]
        prims.append(("ellipse_outline", circle, tyre, width) if kind == "bicycle" else ("ellipse", circle, tyre))
    if kind == "motorcycle":
        prims.append(("poly", [(fx(-0.35), fy(0.05) - r), (fx(0.25), fy(0.05) - r), (fx(0.2), fy(0.75)),
                               (fx(-0.3), fy(0.7))], color))  # fmt: skip
    seat = (fx(-0.1), bottom - r - 0.45 * h)
    prims.append(("line", [centres[0], seat, (fx(0.2), bottom - r), centres[0]], color, width))
    prims.append(("line", [centres[1], (fx(0.3), top)], color, width))
    prims.append(("line", [(fx(0.2), top), (fx(0.38), top)], (40, 40, 40), width))
    return prims


def _item_prims(kind, color, x, y, amount, direction, phase, action, W, H):
    """Object primitives with the base at (x, y) pixels; `amount` tips it over (fraction of 90 degrees, toward
    `direction`)."""
    u = H / 100.0  # drawing unit: a hundredth of the frame height
    pivot = (x, y)
    if kind == "stop sign":
        angles = np.linspace(0, 2 * math.pi, 9)[:-1] + math.pi / 8
        octagon = [(x + 5 * u * math.cos(a), y - 24 * u + 5 * u * math.sin(a)) for a in angles]
        prims = [_rect(x - 0.6 * u, y, x + 0.6 * u, y - 22 * u, (150, 150, 155)), ("poly", octagon, color),
                 _rect(x - 3 * u, y - 24.6 * u, x + 3 * u, y - 23.4 * u, (245, 245, 245))]  # fmt: skip
    elif kind == "bench":
        half, legs = 11 * u, (60, 60, 60)
        prims = [_rect(x - half, y - 7 * u, x + half, y - 5 * u, color),
                 _rect(x - half, y - 12 * u, x + half, y - 10.5 * u, color),
                 _rect(x - half + u, y, x - half + 2.5 * u, y - 12 * u, legs),
                 _rect(x + half - 2.5 * u, y, x + half - u, y - 12 * u, legs)]  # fmt: skip
        pivot = (x + direction * half, y)
    elif kind == "potted plant":
        prims = [("poly", [(x - 3 * u, y), (x + 3 * u, y), (x + 4 * u, y - 6 * u), (x - 4 * u, y - 6 * u)],
                  (160, 90, 50)), ("ellipse", [(x - 6 * u, y - 17 * u), (x + 6 * u, y - 5 * u)], color)]  # fmt: skip
    elif kind == "handbag":
        handle = [(x - 1.8 * u, y - 5 * u), (x, y - 8 * u), (x + 1.8 * u, y - 5 * u)]
        prims = [("poly", [(x - 3 * u, y), (x + 3 * u, y), (x + 2.6 * u, y - 5 * u), (x - 2.6 * u, y - 5 * u)], color),
                 ("line", handle, _shade(color, 0.6), max(1, int(round(0.8 * u))))]  # fmt: skip
    elif kind == "cell phone":
        prims = [_rect(x - 1.2 * u, y, x + 1.2 * u, y - 3.6 * u, color)]
    elif kind == "dog":
        f = direction
        swing = {"walk": 0.35, "run": 0.7, "bite": 0.2}.get(action, 0.0) * math.sin(phase)
        leg = 5 * u
        body_top, body_bottom = y - leg - 5 * u, y - leg
        head_dy = 3 * u if action == "bite" else 0.0  # biting: the head goes down
        head_x = x + f * 6 * u
        prims = [_rect(x - 7 * u, body_bottom, x + 7 * u, body_top, color),
                 _rect(head_x, body_top - 3 * u + head_dy, head_x + f * 6 * u, body_top + 2.5 * u + head_dy,
                       _shade(color, 0.85))]  # fmt: skip
        width = max(1, int(round(1.3 * u)))
        for base, sign in ((x - 5.5 * u, 1), (x - 3.5 * u, -1), (x + 3.5 * u, 1), (x + 5.5 * u, -1)):
            foot = (base + f * leg * math.sin(sign * swing), y)
            prims.append(("line", [(base, body_bottom), foot], _shade(color, 0.8), width))
        prims.append(("line", [(x - f * 7 * u, body_top + u), (x - f * 10 * u, body_top - 3 * u)], color, width))
    else:
        raise ValueError(f"unknown object kind {kind!r}")
    if amount > 0:
        angle = direction * amount * math.pi / 2
        prims = [(p[0], [tuple(q) for q in _rotate(p[1], np.asarray(pivot), angle)], *p[2:]) for p in prims]
    return prims


def frame_state(plan: Plan, t: float) -> list[Drawn]:
    """Every actor at time `t`, in drawing order (far to near); invisible ones are kept with their boxes."""
    W, H = plan.width, plan.height
    states: dict[int, Drawn] = {}
    order = sorted(range(len(plan.actors)), key=lambda i: _resolve_order(plan, i))
    for i in order:
        actor = plan.actors[i]
        seg, u = actor.segment(t)
        x = seg.start[0] + u * (seg.end[0] - seg.start[0])
        y = seg.start[1] + u * (seg.end[1] - seg.start[1])
        amount = seg.amount[0] + u * (seg.amount[1] - seg.amount[0])
        phase = 2 * math.pi * CADENCE.get(seg.action, 0.0) * t + actor.phase0
        if actor.kind == "person":
            h_px = actor.height * H
            facing = seg.facing
            carry = actor.carry if any(_holds(plan, j, i, t) for j in range(len(plan.actors))) else None
            if seg.ride is not None:
                vehicle = states[seg.ride]
                vx0, _, vx1, vy1 = vehicle.box
                facing = plan.actors[seg.ride].segment(t)[0].facing
                action = "ride"
                vh = VEHICLE_SIZES[plan.actors[seg.ride].kind][1] * H
                anchor = ((vx0 + vx1) / 2 + facing * 0.05 * vh, vy1 - 0.3 * vh)
                depth = vehicle.depth + 1e-3
            else:
                action = seg.action
                anchor = (x * W, y * H)
                depth = y
            body, head = body_keypoints(action, phase, amount, carry, actor.fall_dir * 1)
            to_px = np.array([facing * h_px, -h_px])
            points = body * to_px + anchor
            head_px = head * to_px + anchor
            prims = _person_prims(points, head_px, actor.colors, h_px)
            states[i] = Drawn(i, "person", prims, _bounds(prims), depth, points)
        elif actor.kind in VEHICLE_SIZES:
            prims = _vehicle_prims(actor.kind, actor.color, x * W, y * H, seg.facing, W, H)
            states[i] = Drawn(i, actor.kind, prims, _bounds(prims), y)
        else:
            direction, depth = (actor.fall_dir if seg.action == "static" else seg.facing), y
            if seg.holder is not None:
                holder = states[seg.holder]
                wrist = holder.keypoints[LEFT_WRIST]
                if actor.kind == "handbag":
                    x_px, y_px = wrist[0], wrist[1] + 8 * H / 100.0
                else:
                    x_px, y_px = wrist[0], wrist[1] + 1.8 * H / 100.0
                depth = holder.depth + 1e-3
            else:
                x_px, y_px = x * W, y * H
            prims = _item_prims(actor.kind, actor.color, x_px, y_px, amount, direction, phase, seg.action, W, H)
            states[i] = Drawn(i, actor.kind, prims, _bounds(prims), depth)
    return sorted(states.values(), key=lambda d: (d.depth, d.actor))


def _resolve_order(plan: Plan, i: int) -> int:
    """Evaluation order: vehicles, then persons (riders need their vehicle), then objects (held ones need holders)."""
    kind = plan.actors[i].kind
    return (0 if kind in VEHICLE_SIZES else 1 if kind == "person" else 2, i)


def _holds(plan: Plan, item: int, person: int, t: float) -> bool:
    actor = plan.actors[item]
    if actor.kind == "person" or actor.kind in VEHICLE_SIZES or not actor.segs:
        return False
    return actor.segment(t)[0].holder == person


# ----------------------------------------------------------------------------------------------------- rendering


def _noise(rng, shape, scale):
    return rng.normal(0.0, scale, size=shape)


def _jitter(rng, color, amount=16):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def paint_background(scene: str, size: tuple, rng) -> tuple[np.ndarray, tuple]:
    """The static background of a scene (uint8 H x W x 3) and the region that can burn (x0, x1, y0, y1)."""
    W, H = size
    image = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(image)

    def rect(x0, y0, x1, y1, color):
        d.rectangle([x0 * W, y0 * H, max(x1 * W - 1, x0 * W), max(y1 * H - 1, y0 * H)], fill=color)

    burnable = (0.15, 0.85, 0.22, 0.4)
    sky = _jitter(rng, (150, 195, 235))
    if scene == "Street":
        rect(0, 0, 1, 0.55, sky)
        x = -float(rng.uniform(0, 0.1))
        while x < 1:
            w = float(rng.uniform(0.18, 0.34))
            top = float(rng.uniform(0.02, 0.15))
            color = _jitter(
                rng, _pick(rng, ((170, 120, 100), (200, 180, 150), (140, 140, 150), (190, 160, 120), (120, 100, 90)))
            )
            rect(x, top, x + w, 0.53, color)
            for wy in np.arange(top + 0.05, 0.45, 0.1):
                for wx in np.arange(x + 0.03, x + w - 0.05, 0.07):
                    rect(wx, wy, wx + 0.035, wy + 0.05, (230, 215, 150) if rng.random() < 0.3 else (70, 90, 120))
            x += w
        rect(0, 0.53, 1, 0.74, _jitter(rng, (185, 180, 170)))
        for lx in np.arange(0.0, 1.0, 0.08):
            d.line([(lx * W, 0.53 * H), (lx * W - 0.05 * W, 0.74 * H)], fill=(160, 155, 150))
        rect(0, 0.74, 1, 0.76, (140, 140, 140))
        rect(0, 0.76, 1, 1.0, _jitter(rng, (75, 75, 80), 8))
        for lx in np.arange(0.02, 1.0, 0.12):
            rect(lx, 0.862, lx + 0.06, 0.872, (235, 235, 235))
        burnable = (0.12, 0.88, 0.2, 0.4)
    elif scene == "Road":
        rect(0, 0, 1, 0.4, sky)
        for tx in np.arange(-0.05, 1.05, 0.06):
            r = float(rng.uniform(0.04, 0.08))
            d.ellipse(
                [(tx - r) * W, (0.32 - r * 1.2) * H, (tx + r) * W, (0.32 + r * 1.2) * H],
                fill=_jitter(rng, (50, 100, 50)),
            )
        rect(0, 0.36, 1, 0.58, _jitter(rng, (120, 165, 85)))
        rect(0, 0.58, 1, 1.0, _jitter(rng, (85, 85, 90), 8))
        rect(0, 0.585, 1, 0.595, (240, 240, 240))
        for lx in np.arange(0.0, 1.0, 0.14):
            rect(lx, 0.77, lx + 0.07, 0.78, (240, 220, 60))
    elif scene == "Shop":
        rect(0, 0, 1, 0.6, _jitter(rng, _pick(rng, ((225, 215, 185), (200, 225, 215), (230, 200, 200)))))
        for x0 in (float(rng.uniform(0.03, 0.1)), float(rng.uniform(0.52, 0.6))):
            rect(x0, 0.08, x0 + 0.38, 0.58, (140, 100, 60))
            for sy in (0.2, 0.34, 0.48):
                rect(x0 + 0.01, sy, x0 + 0.37, sy + 0.02, (110, 75, 45))
                px = x0 + 0.015
                while px < x0 + 0.35:
                    pw = float(rng.uniform(0.02, 0.05))
                    ph = float(rng.uniform(0.05, 0.1))
                    rect(px, sy - ph, min(px + pw, x0 + 0.37), sy, _pick(rng, _SHIRTS))
                    px += pw + 0.008
        tile_a, tile_b = _jitter(rng, (205, 205, 200)), _jitter(rng, (165, 165, 170))
        for i, ty in enumerate(np.arange(0.6, 1.0, 0.1)):
            for j, tx in enumerate(np.arange(0, 1, 0.1)):
                rect(tx, ty, tx + 0.1, ty + 0.1, tile_a if (i + j) % 2 == 0 else tile_b)
        burnable = (0.1, 0.9, 0.25, 0.45)
    elif scene == "Lawn":
        rect(0, 0, 1, 0.35, sky)
        for tx in np.arange(float(rng.uniform(0, 0.15)), 1.0, float(rng.uniform(0.14, 0.22))):
            rect(tx - 0.01, 0.2, tx + 0.01, 0.4, (100, 70, 40))
            r = float(rng.uniform(0.05, 0.08))
            d.ellipse(
                [(tx - r) * W, (0.2 - r * 1.3) * H, (tx + r) * W, (0.2 + r * 1.3) * H],
                fill=_jitter(rng, (40, 120, 50)),
            )
        grass = _jitter(rng, (95, 165, 70))
        for i, gy in enumerate(np.arange(0.35, 1.0, 0.05)):
            rect(0, gy, 1, gy + 0.05, grass if i % 2 == 0 else _shade(grass, 1.1))
        rect(0, 0.66, 1, 0.76, _jitter(rng, (205, 190, 150)))
    elif scene == "Factory":
        wall = _jitter(rng, (150, 155, 165))
        rect(0, 0, 1, 0.57, wall)
        for lx in np.arange(0, 1, 0.1):
            d.line([(lx * W, 0), (lx * W, 0.57 * H)], fill=_shade(wall, 0.85))
        for py, color in ((0.1, (170, 100, 60)), (0.17, (100, 110, 120))):
            rect(0, py, 1, py + 0.035, color)
        mx = float(rng.uniform(0.02, 0.1))
        while mx < 0.9:
            mw = float(rng.uniform(0.15, 0.25))
            top = float(rng.uniform(0.25, 0.35))
            rect(mx, top, mx + mw, 0.57, _jitter(rng, (90, 100, 110)))
            rect(mx + 0.02, top + 0.04, mx + 0.06, top + 0.08, (60, 200, 90))
            rect(mx + 0.07, top + 0.04, mx + 0.11, top + 0.08, (220, 60, 50))
            mx += mw + float(rng.uniform(0.05, 0.12))
        rect(0, 0.57, 1, 1, _jitter(rng, (130, 130, 125), 8))
        for sx in np.arange(0, 1, 0.06):
            d.polygon(
                [
                    (sx * W, 0.6 * H),
                    ((sx + 0.03) * W, 0.6 * H),
                    ((sx + 0.05) * W, 0.64 * H),
                    ((sx + 0.02) * W, 0.64 * H),
                ],
                fill=(230, 190, 30),
            )
        burnable = (0.1, 0.9, 0.3, 0.42)
    elif scene == "Residence":
        rect(0, 0, 1, 0.62, sky)
        x0 = float(rng.uniform(0.05, 0.3))
        x1 = x0 + float(rng.uniform(0.45, 0.6))
        wall = _jitter(rng, _pick(rng, ((230, 220, 190), (200, 215, 230), (235, 200, 170))))
        rect(x0, 0.3, x1, 0.62, wall)
        d.polygon(
            [((x0 - 0.04) * W, 0.3 * H), ((x1 + 0.04) * W, 0.3 * H), ((x0 + x1) / 2 * W, 0.08 * H)],
            fill=_jitter(rng, (140, 50, 40)),
        )
        door = x0 + (x1 - x0) * float(rng.uniform(0.4, 0.6))
        rect(door, 0.44, door + 0.06, 0.62, (110, 70, 40))
        for wx in (x0 + 0.04, x1 - 0.12):
            rect(wx, 0.36, wx + 0.08, 0.47, (120, 170, 210))
        rect(0, 0.62, 1, 1, _jitter(rng, (100, 170, 80)))
        rect(x1 + 0.02, 0.62, min(x1 + 0.3, 1.0), 1.0, (160, 160, 160))
        burnable = (x0 + 0.05, x1 - 0.05, 0.25, 0.42)
    elif scene == "School":
        rect(0, 0, 1, 0.58, sky)
        brick = _jitter(rng, (165, 75, 55))
        rect(0, 0.08, 1, 0.58, brick)
        for by in np.arange(0.08, 0.58, 0.03):
            d.line([(0, by * H), (W, by * H)], fill=_shade(brick, 0.8))
        for wy in (0.14, 0.32):
            for wx in np.arange(0.04, 0.96, 0.12):
                rect(wx, wy, wx + 0.07, wy + 0.1, (170, 200, 225))
        rect(0, 0.58, 1, 1, _jitter(rng, (200, 115, 75)))
        d.rectangle([0.08 * W, 0.64 * H, 0.92 * W, 0.98 * H], outline=(245, 245, 245))
        d.line([(0.5 * W, 0.64 * H), (0.5 * W, 0.98 * H)], fill=(245, 245, 245))
        burnable = (0.1, 0.9, 0.15, 0.4)
    else:
        raise ValueError(f"no layout for scene {scene!r}")
    array = np.asarray(image, dtype=np.float64) + _noise(rng, (H, W, 1), 3.0)
    return np.clip(np.round(array), 0, 255).astype(np.uint8), burnable


def _flame(draw, cx, base, r, t, phase):
    for color, scale in (((200, 40, 20), 1.0), ((250, 135, 30), 0.7), ((255, 230, 100), 0.4)):
        rs = r * scale
        heights = [rs * (1.5 + 0.5 * math.sin(9.0 * t + phase + k * 1.9)) for k in range(3)]
        points = [
            (cx - rs, base),
            (cx - 0.7 * rs, base - heights[0]),
            (cx - 0.3 * rs, base - 0.6 * heights[0]),
            (cx, base - heights[1] * 1.2),
            (cx + 0.3 * rs, base - 0.6 * heights[2]),
            (cx + 0.7 * rs, base - heights[2]),
            (cx + rs, base),
        ]
        draw.polygon(points, fill=color)


def render_background(plan: Plan, t: float) -> np.ndarray:
    """The background at time `t`: the static scene with the active effects (fire, burning paper, smoke)."""
    frame = plan.background.astype(np.float64)
    W, H = plan.width, plan.height
    smoke = []
    for effect in plan.effects:
        if effect.kind == "fire" and t >= effect.t0:
            intensity = min((t - effect.t0) / 1.2, 1.0)
            tint = np.array([70.0, 35.0, 25.0])
            frame = frame * (1 - 0.4 * intensity) + tint * 0.4 * intensity
            for k in range(6):
                rise = ((t - effect.t0) * 0.12 + k * 0.07) % 0.42
                smoke.append(
                    (
                        effect.x + 0.03 * math.sin(2.0 * t + k),
                        effect.y - 0.08 - rise,
                        0.04 + 0.6 * rise * intensity,
                        0.55 * intensity,
                    )
                )
        elif effect.kind == "flame" and effect.t0 - 0.1 <= t:
            if t <= effect.t1:
                ramp = min((t - effect.t0) / 0.2, (effect.t1 - t) / 0.3, 1.0)
                for k in range(3):
                    rise = ((t - effect.t0) * 0.1 + k * 0.06) % 0.18
                    smoke.append(
                        (
                            effect.x + 0.01 * math.sin(3.0 * t + k),
                            effect.y - 0.05 - rise,
                            0.02 + 0.2 * rise,
                            0.45 * max(ramp, 0.0),
                        )
                    )
        elif effect.kind == "puff" and effect.t0 <= t <= effect.t1:
            age = (t - effect.t0) / max(effect.t1 - effect.t0, 1e-6)
            smoke.append((effect.x, effect.y, effect.size * (0.5 + 0.7 * age), 0.7 * (1 - age)))
    image = Image.fromarray(np.clip(np.round(frame), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for effect in plan.effects:
        if effect.kind == "fire" and t >= effect.t0:
            intensity = min((t - effect.t0) / 1.2, 1.0)
            _flame(draw, effect.x * W, effect.y * H, (0.03 + effect.size * intensity) * H, t, effect.phase)
        elif effect.kind == "flame" and effect.t0 - 0.1 <= t:
            ax, ay = effect.x * W, effect.y * H
            if t <= effect.t1:
                draw.polygon([(ax - 4, ay), (ax + 4, ay), (ax + 3, ay - 2), (ax - 3, ay - 2)], fill=(245, 245, 240))
                ramp = min((t - effect.t0) / 0.2, (effect.t1 - t) / 0.3, 1.0)
                if ramp > 0:
                    _flame(draw, ax, ay - 1, effect.size * H * ramp, t, effect.phase)
            else:
                draw.ellipse([ax - 4, ay - 1.5, ax + 4, ay + 1], fill=(40, 35, 30))
    frame = np.asarray(image, dtype=np.float64)
    if smoke:
        yy, xx = np.mgrid[0:H, 0:W]
        for sx, sy, radius, alpha in smoke:
            if alpha <= 0:
                continue
            inside = ((xx - sx * W) ** 2 + (yy - sy * H) ** 2) <= (radius * H) ** 2
            frame[inside] = frame[inside] * (1 - alpha) + np.array([85.0, 85.0, 90.0]) * alpha
    frame = np.clip(np.round(frame), 0, 255).astype(np.uint8)
    fill = (frame == np.array(CLIP_MEAN_FILL, dtype=np.uint8)).all(-1)
    frame[fill, 2] += 1  # the background never holds the fill colour, so the fill marks exactly the foreground
    return frame


def _draw_prims(draw: ImageDraw.ImageDraw, prims, mask: ImageDraw.ImageDraw | None = None):
    for prim in prims:
        kind = prim[0]
        for target, color in ((draw, prim[2]), (mask, 255)):
            if target is None:
                continue
            points = [tuple(map(float, q)) for q in prim[1]]
            if kind == "line":
                target.line(points, fill=color, width=prim[3], joint="curve" if prim[3] > 2 else None)
            elif kind == "poly":
                target.polygon(points, fill=color)
            elif kind == "ellipse":
                target.ellipse(points, fill=color)
            elif kind == "ellipse_outline":
                target.ellipse(points, outline=color, width=prim[3])


def render_frame(plan: Plan, index: int, with_mask: bool = False):
    """Frame `index` (RGB uint8 H x W x 3) and, with `with_mask`, the foreground mask (bool H x W) and the state."""
    t = index / plan.fps
    image = Image.fromarray(render_background(plan, t))
    draw = ImageDraw.Draw(image)
    mask_image = Image.new("L", image.size) if with_mask else None
    mask_draw = ImageDraw.Draw(mask_image) if with_mask else None
    state = frame_state(plan, t)
    for drawn in state:
        _draw_prims(draw, drawn.prims, mask_draw)
    frame = np.asarray(image, dtype=np.uint8)
    if not with_mask:
        return frame
    return frame, np.asarray(mask_image) > 0, state


# -------------------------------------------------------------------------------------------------------- oracle


def _visible_box(box, W, H) -> tuple | None:
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], W), min(box[3], H)
    if x1 - x0 < 0.5 or y1 - y0 < 0.5:
        return None
    return (x0 / W, y0 / H, x1 / W, y1 / H)


def _inside(points: np.ndarray, W: int, H: int) -> np.ndarray:
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
                if kind == "person" and not _inside(drawn.keypoints, W, H).any():
                    continue
                objects.append((i, OBJECT_LABELS[kind], box))
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
                out["pose_keypoints"][f, persons, :, 2] = _inside(points, W, H).astype(np.float32)
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
        triplets = (sorted(semantic) + geometric)[:MAX_RELATIONS]
        for r, triplet in enumerate(triplets):
            out["relation_triplets"][f, r] = triplet
            out["relation_mask"][f, r] = True
    return out


# ---------------------------------------------------------------------------------------------------------- build


@dataclass
class SyntheticArguments:
    """Arguments of `sherlock-build-synthetic`."""

    output_dir: str = field(metadata={"help": "Folder to write the dataset into (videos/, features/, parquet, card)."})
    num_videos: int = field(default=200, metadata={"help": "Number of videos."})
    seed: int = field(default=0, metadata={"help": "Global seed; video i is generated from (seed, i) alone."})
    num_frames: int = field(
        default=8, metadata={"help": "Frames the processor samples (uniformly); the oracle features are for them."}
    )
    fps: float = field(default=8.0, metadata={"help": "Frame rate of the videos."})
    size: str = field(default="128x96", metadata={"help": "WIDTHxHEIGHT of the frames (both even)."})
    duration: float = field(
        default=5.0, metadata={"help": "Mean duration in seconds (each video: +-20 %, at least 4 s); at least 4."}
    )
    test_fraction: float = field(default=0.2, metadata={"help": "Fraction of the videos in the test split."})
    codec: str = field(default="libx264", metadata={"help": "libx264 (ultrafast, bit-exact) or mpeg4."})
    num_workers: int = field(default=0, metadata={"help": "Worker processes (0: one per CPU core, 1: in process)."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Upload the folder to this dataset repo id."})
    hub_endpoint: str | None = field(default=None, metadata={"help": "Hub endpoint (default: HF_ENDPOINT / hf.co)."})
    hub_token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo private."})


def parse_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT (e.g. 128x96), got {size!r}") from None
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise ValueError(f"--size needs even sides of at least 32 pixels, got {size!r}")
    return width, height


def video_id(index: int) -> str:
    return f"syn{index:05d}"


def write_video(plan: Plan, path: Path, codec: str = "libx264") -> None:
    """Encode the plan's frames as an mp4 (yuv420p). libx264 runs single-threaded and `ultrafast`, so the bytes
    depend only on the frames (and the encoder version)."""
    import av

    rate = Fraction(plan.fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = plan.width, plan.height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "20", "threads": "1"}
        else:
            stream.bit_rate = 400_000
            stream.thread_count = 1
        for index in range(plan.num_frames):
            frame = av.VideoFrame.from_ndarray(render_frame(plan, index), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def build_video(job: tuple) -> dict:
    """Render, encode and cache the oracle features of one video; returns its row (and plan summary)."""
    seed, index, args_dict, output_dir, order = job
    args = SyntheticArguments(**args_dict)
    plan = plan_video(seed, index, args.duration, args.fps, parse_size(args.size), order)
    name = f"{video_id(index)}.mp4"
    path = Path(output_dir) / "videos" / name
    write_video(plan, path, args.codec)
    probe = load_video(path, num_frames=args.num_frames, decode=False)
    if (
        len(probe.frame_indices) != min(args.num_frames, plan.num_frames)
        or max(probe.frame_indices) >= plan.num_frames
    ):
        raise RuntimeError(f"{name}: the written video reads back with frames {probe.frame_indices.tolist()}")
    if not np.allclose(probe.timestamps, probe.frame_indices / plan.fps, atol=1e-3):
        raise RuntimeError(f"{name}: frame times {probe.timestamps.tolist()} are not frame index / fps")
    features = oracle_features(plan, probe.frame_indices)
    FeatureCache(Path(output_dir) / "features").save(
        video_content_hash(path), probe.timestamps, EXTRACTOR_IDS, features, extra={"source": f"videos/{name}"}
    )
    duration = float(probe.duration)
    for event in plan.events:
        if not 0.0 <= event["start"] <= event["end"] <= duration + 1e-9:
            raise RuntimeError(f"{name}: event {event} outside [0, {duration}]")
    split = split_of(seed, index, args.test_fraction)
    source = {
        "generator": GENERATOR_ID,
        "seed": str(seed),
        "index": str(index),
        "scene": plan.scene,
        "description": "; ".join(plan.description),
        "evidence": "; ".join(plan.evidence),
    }
    row = make_row(video_id(index), name, split, plan.events, duration, source, SOURCE_FIELDS)
    return {"row": row, "people": int(features["pose_mask"].sum(-1).max()), "num_frames": plan.num_frames}


def _pool(num_workers: int):
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=num_workers, mp_context=multiprocessing.get_context(method))


def build_synthetic(args: SyntheticArguments) -> dict:
    """Build the whole dataset folder; returns a summary with the statistics."""
    if args.num_videos < 1:
        raise ValueError(f"--num-videos must be positive, got {args.num_videos}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise ValueError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.duration < MIN_SECONDS or args.fps <= 0:
        raise ValueError(
            f"--duration must be at least {MIN_SECONDS:g} s and --fps positive, got {args.duration:g}, {args.fps:g}"
        )
    parse_size(args.size)
    started = time.perf_counter()
    output_dir = Path(args.output_dir)
    (output_dir / "videos").mkdir(parents=True, exist_ok=True)
    order = event_type_order(args.seed)
    args_dict = {k: v for k, v in vars(args).items() if k not in ("hub_token",)}
    jobs = [(args.seed, index, args_dict, str(output_dir), order) for index in range(args.num_videos)]
    workers = args.num_workers or min(multiprocessing.cpu_count(), 8)
    if workers <= 1 or len(jobs) < 4:
        results = [build_video(job) for job in jobs]
    else:
        with _pool(workers) as pool:
            results = list(pool.map(build_video, jobs, chunksize=4))
    rows = [result["row"] for result in results]
    features = mvae_features(SOURCE_FIELDS)
    splits = {}
    for split in ("train", "test"):
        split_rows = [row for row in rows if row["split"] == split]
        if split_rows:
            splits[split] = write_split(split_rows, features, output_dir, CONFIG, split)
        else:
            for stale in (output_dir / CONFIG).glob(f"{split}-*.parquet"):
                stale.unlink()
    stats = statistics(rows)
    stats["max_people_per_frame"] = max(result["people"] for result in results)
    header = card_header(
        [ConfigFiles(CONFIG, splits, default=True)],
        license=LICENSE,
        pretty_name="Sherlock synthetic M-VAE",
        extra={
            "language": ["en"],
            "task_categories": ["video-text-to-text"],
            "tags": ["sherlock", "synthetic", "video-anomaly", "m-vae", "event-extraction"],
            "size_categories": ["n<1K" if len(rows) < 1000 else "1K<n<10K"],
        },
    )
    write_card(output_dir, header, card_body(args, stats))
    summary = {
        "output_dir": str(output_dir),
        "videos": len(rows),
        "splits": {split: sum(row["split"] == split for row in rows) for split in ("train", "test")},
        "statistics": stats,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.push_to_hub:
        summary["commit_url"] = push_dataset_folder(
            output_dir,
            args.push_to_hub,
            token=args.hub_token,
            endpoint=args.hub_endpoint,
            private=args.hub_private,
            commit_message="Upload Sherlock synthetic M-VAE",
        )
    return summary


def statistics(rows: list[dict]) -> dict:
    """Counts for the card: events per type / scene / split, videos per event count, evidence modalities."""
    events = [(row, event) for row in rows for event in row["events"]]
    return {
        "videos_per_split": dict(sorted(Counter(row["split"] for row in rows).items())),
        "videos_per_event_count": {str(k): v for k, v in sorted(Counter(len(r["events"]) for r in rows).items())},
        "videos_per_scene": dict(sorted(Counter(row["source"]["scene"] for row in rows).items())),
        "events_per_type": {t: sum(e["event_type"] == t for _, e in events) for t in SYNTHETIC_EVENT_TYPES},
        "events_per_scene": dict(sorted(Counter(e["scene"] for _, e in events).items())),
        "events_per_split": dict(sorted(Counter(r["split"] for r, _ in events).items())),
        "events_per_modality": {
            m: sum(EVENT_SPECS[e["event_type"]].modality == m for _, e in events) for m in MODALITIES
        },
        "mean_duration": round(float(np.mean([row["duration"] for row in rows])), 2),
    }


def card_body(args: SyntheticArguments, stats: dict) -> str:
    type_rows = [
        (t, EVENT_SPECS[t].modality, ", ".join(EVENT_SPECS[t].scenes), stats["events_per_type"][t])
        for t in SYNTHETIC_EVENT_TYPES
    ]
    doc = __doc__
    design = doc[doc.index("Event types (10") : doc.index("Randomness:")].strip()
    oracle = doc[doc.index("Oracle features") : doc.index("Output folder:")].strip()
    parts = [
        "# Sherlock synthetic M-VAE",
        "Procedurally rendered short videos (stick figures from COCO-17 keypoints, vehicles, objects) with 0-2 abnormal "
        "events each, the oracle expert features of Sherlock (pose, objects, relations, background) in the processor's "
        "feature-cache format, and one row per video in the M-VAE schema (subject, event type, object, scene and the "
        "time span of every event; the canonical answer). Built by `sherlock-build-synthetic` "
        f"(`dataset_scripts/build_synthetic.py`, generator `{GENERATOR_ID}`) for tests, the learning benchmark and the "
        "offline demo: small enough to train a tiny Sherlock on CPU in minutes.",
        "## Build",
        f"`sherlock-build-synthetic --output-dir <folder> --num-videos {args.num_videos} --seed {args.seed} "
        f"--num-frames {args.num_frames} --fps {args.fps:g} --size {args.size} --duration {args.duration:g} "
        f"--test-fraction {args.test_fraction:g} --codec {args.codec}` (deterministic per seed; any video can be "
        "regenerated alone from (seed, index)).",
        "## Design",
        design,
        "## Use",
        "```python\nfrom datasets import load_dataset\nfrom processing import SherlockProcessor\n\n"
        'rows = load_dataset("<folder or repo>")  # train / test\n'
        'processor = SherlockProcessor(..., num_frames=8, extractors={"backend": "precomputed"}, '
        'cache_dir="<folder>/features")\n'
        'batch = processor(videos="<folder>/videos/" + rows["train"][0]["video"])\n```\n'
        f"The oracle features exist for `num_frames={args.num_frames}` uniform sampling (other samplings are cache "
        "misses).",
        oracle,
        "## Layout\n\n```\nvideos/<video_id>.mp4\nfeatures/            feature cache (safetensors + JSON manifests)\n"
        f"{CONFIG}/{{train,test}}-0000i-of-0000n.parquet\nREADME.md\n```",
        "## Statistics",
        f"{sum(stats['videos_per_split'].values())} videos "
        f"({', '.join(f'{k}: {v}' for k, v in stats['videos_per_split'].items())}), mean duration "
        f"{stats['mean_duration']} s.",
        "Videos per number of events:\n\n"
        + markdown_table(["events", "videos"], list(stats["videos_per_event_count"].items())),
        "Events per type (with the evidence modality and the scenes the type is drawn in):\n\n"
        + markdown_table(["event type", "modality", "scenes", "events"], type_rows),
        "Events per scene:\n\n" + markdown_table(["scene", "events"], list(stats["events_per_scene"].items())),
        "Videos per scene:\n\n" + markdown_table(["scene", "videos"], list(stats["videos_per_scene"].items())),
        "Events per split:\n\n" + markdown_table(["split", "events"], list(stats["events_per_split"].items())),
        "Events per evidence modality:\n\n"
        + markdown_table(["modality", "events"], list(stats["events_per_modality"].items())),
        "## Licence",
        f"{LICENSE}: the data is fully synthetic (procedurally generated by the script above); no third-party "
        "content is included.",
    ]
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Console script `sherlock-build-synthetic`."""
    return run_builder(
        "sherlock-build-synthetic",
        SyntheticArguments,
        build_synthetic,
        lambda summary: json.dumps(summary, indent=2, sort_keys=True),
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "EVENT_SPECS",
    "OBJECT_LABELS",
    "SCENE_SPECS",
    "SyntheticArguments",
    "body_keypoints",
    "build_synthetic",
    "event_type_order",
    "oracle_features",
    "plan_video",
    "render_frame",
    "split_of",
    "main",
]
