"""The plan of one synthetic M-VAE video (`build_synthetic`): its scene, its 0-2 abnormal events (`TEMPLATES`)
scheduled in time, and the normal activity around them (walkers, talkers, traffic in its lane, static objects), all
drawn from `numpy.random.default_rng([seed, index])` (`plan_video`)."""

import math

import numpy as np

from dataset_scripts.synthetic_events import TEMPLATES, add_rider, drive, floor_y, free_x, new_person, new_vehicle
from dataset_scripts.synthetic_scenes import SCENE_SPECS, SYNTHETIC_SCENES, paint_background
from dataset_scripts.synthetic_world import (
    DOG_COLORS,
    EVENT_SPECS,
    MIN_SECONDS,
    RUN,
    SYNTHETIC_EVENT_TYPES,
    VEHICLE_SIZES,
    WALK,
    Actor,
    Mover,
    Plan,
    Seg,
    pick,
)


# --------------------------------------------------------------------------------------------------- distractors


def _add_distractor(plan, rng, kind):
    """Normal activity `kind`; returns the number of people it added."""
    duration = plan.duration
    y = floor_y(plan, rng)
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
            dog = Actor("dog", color=pick(rng, DOG_COLORS), phase0=float(rng.uniform(0, 6)))
            lead = direction * plan.hx(0.45)
            Mover(dog, x_mid - direction * speed * t_mid + lead, y + 0.015, facing=direction).go(
                duration, "walk", x=x_mid + direction * speed * (duration - t_mid) + lead
            )
            plan.add(dog)
        plan.description.append(f"a person {'jogs' if kind == 'jogger' else 'walks'} by")
        return 1
    if kind == "stander":
        person = new_person(rng)
        x = free_x(plan, rng)
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
        x = free_x(plan, rng, margin=0.18)
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
        drive(
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
            kind = pick(rng, ("car", "car", "car", "truck", "bus", "motorcycle", "bicycle"))
            w = VEHICLE_SIZES[kind][0]
            if t_enter > duration - 0.3:
                break
            x_in = -w / 2 if direction > 0 else 1.0 + w / 2
            vehicle = new_vehicle(rng, kind)
            vehicle.fall_dir = direction
            drive(
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
                add_rider(plan, rng, index)
            plan.description.append(f"a {kind} drives by")
            t_enter += (w + 0.45 + float(rng.uniform(0.0, 0.6))) / speed


def _add_statics(plan, rng, taken: set):
    for kind in SCENE_SPECS[plan.scene].statics:
        if kind in taken or rng.random() < 0.5:
            continue
        x = free_x(plan, rng)
        y = floor_y(plan, rng) - 0.005
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
        scene = pick(rng, SYNTHETIC_SCENES)
    else:
        types.append(order[index % len(order)])
        scene = pick(rng, EVENT_SPECS[types[0]].scenes)
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
        people += _add_distractor(plan, rng, pick(rng, spec.distractors))
    if spec.lanes is not None:
        _add_traffic(plan, rng)
    _add_statics(plan, rng, {actor.kind for actor in plan.actors if actor.segs and actor.segs[0].action == "static"})
    return plan


__all__ = ["event_count", "event_type_order", "plan_video", "split_of"]
