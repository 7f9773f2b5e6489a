"""The abnormal events of the synthetic M-VAE videos (`build_synthetic`): one template per event type that adds
its actors / effects to a `Plan` (`TEMPLATES`), and the factories of the actors they use."""

import math

from dataset_scripts.synthetic_scenes import SCENE_SPECS
from dataset_scripts.synthetic_world import (
    ADULT,
    CAR_COLORS,
    CHILD,
    DOG_COLORS,
    PANT_COLORS,
    RUN,
    SHIRT_COLORS,
    SKIN_COLORS,
    VEHICLE_SIZES,
    WALK,
    Actor,
    Effect,
    Mover,
    Plan,
    Seg,
    pick,
)


def new_person(rng, child: bool = False) -> Actor:
    actor = Actor("person", height=CHILD if child else ADULT, phase0=float(rng.uniform(0, 2 * math.pi)))
    actor.colors = (pick(rng, SHIRT_COLORS), pick(rng, PANT_COLORS), pick(rng, SKIN_COLORS))
    return actor


def new_vehicle(rng, kind: str) -> Actor:
    color = pick(rng, CAR_COLORS)
    if kind == "truck":
        color = pick(rng, ((230, 230, 230), (200, 120, 40), (60, 90, 160)))
    elif kind == "bus":
        color = pick(rng, ((240, 180, 20), (200, 40, 40), (40, 120, 200)))
    return Actor(kind, color=color)


def floor_y(plan: Plan, rng) -> float:
    low, high = SCENE_SPECS[plan.scene].floor
    return float(rng.uniform(low, high))


def free_x(plan: Plan, rng, margin: float = 0.12) -> float:
    """An x position outside the event regions (falls back to anywhere)."""
    for _ in range(20):
        x = float(rng.uniform(0.08, 0.92))
        if all(not (a - margin <= x <= b + margin) for a, b in plan.busy):
            return x
    return float(rng.uniform(0.08, 0.92))


def exit_x(direction: int, margin: float = 0.14) -> float:
    return 1.0 + margin if direction > 0 else -margin


# ------------------------------------------------------------------------------------------------ event templates
# Each template adds its actors / effects for an event spanning [t0, t1] in the x interval `region` and returns the
# event quadruple (subject, object) and a sentence describing what happens.


def _event_fighting(plan, rng, t0, t1, region):
    child = plan.scene in ("School", "Lawn") and rng.random() < 0.5
    a, b = new_person(rng, child), new_person(rng, child)
    h = a.height
    xm = float(rng.uniform(region[0] + 0.1, region[1] - 0.1))
    y = floor_y(plan, rng)
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
    y = floor_y(plan, rng)
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
    y = floor_y(plan, rng)
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
    x_out = exit_x(exit_dir)
    m.go(t1, "run", x=x_out)
    m.go(plan.duration, "run", x=x_out + exit_dir * RUN * (plan.duration - t1))
    thief_index = plan.add(thief)
    thief.carry = "bag"
    bag = Actor("handbag", color=pick(rng, ((120, 70, 30), (30, 30, 30), (180, 40, 60))))
    bag.segs.append(Seg(0.0, t0 + 0.25, "lie", (xb, y), (xb, y)))
    bag.segs.append(Seg(t0 + 0.25, plan.duration, "held", (xb, y), (xb, y), holder=thief_index))
    plan.add(bag)
    return "thief", "bag", "a bag lies next to its owner; a passer-by picks it up and runs away"


def _event_robbery(plan, rng, t0, t1, region):
    victim, robber = new_person(rng), new_person(rng)
    xv = float(rng.uniform(region[0] + 0.1, region[1] - 0.1))
    side = 1 if xv > 0.5 else -1  # the robber comes from and leaves by the nearer edge
    y = floor_y(plan, rng)
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
    x_out = exit_x(side)
    mr.go(t1, "run", x=x_out).go(plan.duration, "run", x=x_out + side * RUN * (plan.duration - t1))
    robber.carry = victim.carry
    robber_index = plan.add(robber)
    item = Actor(
        item_kind, color=(25, 25, 30) if item_kind == "cell phone" else pick(rng, ((150, 40, 40), (40, 30, 20)))
    )
    item.segs.append(Seg(0.0, tc, "held", (xv, y), (xv, y), holder=victim_index))
    item.segs.append(Seg(tc, plan.duration, "held", (xv, y), (xv, y), holder=robber_index))
    plan.add(item)
    entity = "phone" if item_kind == "cell phone" else "bag"
    return "robber", entity, f"a robber runs at a person, snatches their {entity} and runs away"


def drive(plan, vehicle, lane_y, keys):
    """Vehicle keyframes: `keys` = [(t, x), ...] with the vehicle's centre x."""
    (t_prev, x_prev) = keys[0]
    for t, x in keys[1:]:
        vehicle.segs.append(Seg(t_prev, t, "drive", (x_prev, lane_y), (x, lane_y), vehicle.fall_dir))
        t_prev, x_prev = t, x
    if not vehicle.segs:
        vehicle.segs.append(Seg(t_prev, t_prev, "drive", (x_prev, lane_y), (x_prev, lane_y), vehicle.fall_dir))


def add_rider(plan, rng, vehicle_index):
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
        kind_b = pick(rng, ("car", "truck", "bus"))
        kind_a = pick(rng, ("car", "car", "motorcycle", "truck"))
        wb, wa = VEHICLE_SIZES[kind_b][0], VEHICLE_SIZES[kind_a][0]
        xb = float(rng.uniform(0.5, 0.75))
        vb, va = float(rng.uniform(0.25, 0.35)), float(rng.uniform(0.55, 0.7))
        tb = max(tc - float(rng.uniform(0.8, 1.5)), 0.2)
        b = new_vehicle(rng, kind_b)
        drive(plan, b, lane_y, [(0.0, xb - vb * tb), (tb, xb), (tc, xb), (tc + 0.2, xb + 0.01), (duration, xb + 0.01)])
        plan.add(b)
        xa = xb - wb / 2 - wa / 2 + 0.012
        a = new_vehicle(rng, kind_a)
        drive(plan, a, lane_y, [(0.0, xa - va * tc), (tc, xa), (tc + 0.2, xa + 0.008), (duration, xa + 0.008)])
        a_index = plan.add(a)
        if kind_a == "motorcycle":
            add_rider(plan, rng, a_index)
        plan.effects.append(Effect("puff", xb - wb / 2, lane_y - 0.1, tc, t1, 0.12, float(rng.uniform(0, 6))))
        return kind_a, kind_b, f"a {kind_a} drives into the back of a {kind_b} that waits in its lane"
    plan.blocked_lanes.update({0, 1})  # a car hits a pedestrian crossing the road
    kind_a = pick(rng, ("car", "car", "truck"))
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
    drive(plan, a, lane_y, [(0.0, xa - va * tc), (tc, xa), (tc + 0.3, xa + 0.05), (duration, xa + 0.05)])
    plan.add(a)
    plan.effects.append(Effect("puff", xa + wa / 2, lane_y - 0.12, tc, t1, 0.1, float(rng.uniform(0, 6))))
    return kind_a, "pedestrian", f"a {kind_a} hits a pedestrian who crosses the road; the pedestrian falls"


def _event_animals(plan, rng, t0, t1, region):
    child = plan.scene == "Lawn" and rng.random() < 0.4
    victim = new_person(rng, child)
    xv = float(rng.uniform(region[0] + 0.08, region[1] - 0.08))
    y = floor_y(plan, rng)
    side = 1 if xv < 0.5 else -1  # the dog waits on the wider side
    Mover(victim, xv, y, facing=side).go(t0 + 0.5, "stand", facing=side).go(t1 - 0.3, "flail", facing=side).go(
        plan.duration, "stand", facing=side
    )
    plan.add(victim)
    dog = Actor("dog", color=pick(rng, DOG_COLORS), phase0=float(rng.uniform(0, 6)))
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
    kind = pick(rng, ("car", "car", "motorcycle", "truck"))
    w = VEHICLE_SIZES[kind][0]
    vehicle = new_vehicle(rng, kind)
    vehicle.fall_dir = -1  # facing left in the right-moving lane
    speed = (1.0 + w) / (t1 - t0)
    x_in = 1.0 + w / 2
    drive(
        plan,
        vehicle,
        lane_y,
        [(0.0, x_in + speed * t0), (t0, x_in), (plan.duration, x_in - speed * (plan.duration - t0))],
    )
    index = plan.add(vehicle)
    if kind == "motorcycle":
        add_rider(plan, rng, index)
    return kind, "none", f"a {kind} drives the wrong way in the lane of the traffic that goes right"


def _event_vandalism(plan, rng, t0, t1, region):
    kind = "bench" if plan.scene == "Lawn" else "stop sign"
    vandal = new_person(rng)
    facing = 1 if rng.random() < 0.5 else -1
    xs = float(rng.uniform(region[0] + 0.1, region[1] - 0.1))
    y = floor_y(plan, rng)
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
    y = floor_y(plan, rng)
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


__all__ = ["TEMPLATES", "add_rider", "drive", "exit_x", "floor_y", "free_x", "new_person", "new_vehicle"]
