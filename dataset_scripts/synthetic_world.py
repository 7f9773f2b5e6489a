"""The building blocks of the synthetic M-VAE videos (`build_synthetic`): event specs, the stick-figure skeleton
(COCO-17 keypoints), actors with keyframed segments, background effects and the `Plan` of one video.

Units: positions are normalised to the frame (x in frame widths, y in frame heights, feet / base position), speeds in
frame widths per second, sizes in frame heights.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from processing.vocabulary_sherlock import EVENT_TYPES


NUM_KEYPOINTS = 17


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


def _limb(start: tuple, angle: float, length: float) -> tuple:
    return (start[0] + length * math.sin(angle), start[1] + length * -math.cos(angle))


def _add(a: tuple, b) -> tuple:
    return (a[0] + b[0], a[1] + b[1])


def body_keypoints(
    action: str = "stand", phase: float = 0.0, amount: float = 0.0, carry: str | None = None, fall_dir: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The 17 COCO keypoints of a stick figure in body units (height 1; x forward, y up, feet on y = 0 at x = 0
    under the hips) and its head centre. `fall` rotates the whole body about the feet, `fall_dir=1` forward.
    (The joints are chained in plain Python floats, the same operations numpy would do element by element.)"""
    p = _pose_parameters(action, phase, amount, carry)
    hip = (0.0, HIP_Y)
    up = (math.sin(p["lean"]), math.cos(p["lean"]))
    shoulder = _add(hip, (TORSO * up[0], TORSO * up[1]))
    head = _add(hip, (HEAD_UP * up[0], HEAD_UP * up[1]))
    shoulders = [_add(shoulder, (SHOULDER_HALF, 0.0)), (shoulder[0] - SHOULDER_HALF, shoulder[1] - 0.0)]
    hips = [_add(hip, (HIP_HALF, 0.0)), (hip[0] - HIP_HALF, hip[1] - 0.0)]
    elbows = [_limb(shoulders[i], p["arm"][i], UPPER_ARM) for i in range(2)]
    wrists = [_limb(elbows[i], p["arm"][i] + p["elbow"][i], FOREARM) for i in range(2)]
    knees = [_limb(hips[i], p["thigh"][i], THIGH) for i in range(2)]
    ankles = [_limb(knees[i], p["thigh"][i] - p["knee"][i], SHIN) for i in range(2)]
    face = [
        _add(head, offset) for offset in ([0.045, -0.005], [0.035, 0.02], [0.02, 0.025], [-0.01, 0.01], [-0.035, 0.0])
    ]
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


SHIRT_COLORS = ((220, 60, 60), (60, 120, 230), (240, 200, 40), (40, 180, 90), (230, 120, 30), (160, 70, 200),
           (240, 240, 240), (30, 200, 210), (250, 110, 170))  # fmt: skip
PANT_COLORS = ((40, 50, 90), (30, 30, 30), (110, 80, 50), (90, 90, 100), (20, 70, 60))
SKIN_COLORS = ((240, 200, 170), (200, 150, 110), (140, 95, 65), (90, 60, 40))
CAR_COLORS = ((200, 30, 30), (30, 70, 200), (230, 230, 235), (20, 20, 25), (240, 190, 30), (40, 150, 60))
DOG_COLORS = ((120, 80, 40), (30, 25, 20), (200, 170, 120), (235, 230, 220))


def pick(rng, options):
    return options[int(rng.integers(len(options)))]


def shade(color, factor):
    """`color` with every channel multiplied by `factor` (clipped to 0..255)."""
    return tuple(int(min(255, max(0, round(c * factor)))) for c in color)


__all__ = [
    "ADULT",
    "CADENCE",
    "CAR_COLORS",
    "CHILD",
    "DOG_COLORS",
    "EVENT_SPECS",
    "HEAD_RADIUS",
    "LEFT_WRIST",
    "MIN_SECONDS",
    "MODALITIES",
    "NUM_KEYPOINTS",
    "PANT_COLORS",
    "RUN",
    "SHIRT_COLORS",
    "SKIN_COLORS",
    "SYNTHETIC_EVENT_TYPES",
    "VEHICLE_SIZES",
    "WALK",
    "Actor",
    "Effect",
    "EventSpec",
    "Mover",
    "Plan",
    "Seg",
    "body_keypoints",
    "pick",
    "shade",
]
