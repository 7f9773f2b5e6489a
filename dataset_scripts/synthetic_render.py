"""Rendering of a synthetic M-VAE video (`build_synthetic`): every actor's drawing primitives and tight box at a
time (`frame_state`), the background with its effects (fire, burning paper, smoke; `render_background`) and the
frames (`render_frame`, optionally with the exact foreground mask)."""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from dataset_scripts.synthetic_world import (
    CADENCE,
    HEAD_RADIUS,
    LEFT_WRIST,
    VEHICLE_SIZES,
    Plan,
    body_keypoints,
    shade,
)
from processing.extractors_sherlock import CLIP_MEAN_FILL


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
    """The tight box (x0, y0, x1, y1) of the primitives, a line padded by half its width and a polygon by half a
    pixel (plain Python floats: a handful of points per primitive, where numpy's per-call cost dominates)."""
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for prim in prims:
        kind = prim[0]
        pad = prim[3] / 2 if kind == "line" else 0.5 if kind == "poly" else 0.0
        xs = [float(q[0]) for q in prim[1]]
        ys = [float(q[1]) for q in prim[1]]
        x0, x1 = min(x0, min(xs) - pad), max(x1, max(xs) + pad)
        y0, y1 = min(y0, min(ys) - pad), max(y1, max(ys) + pad)
    return (x0, y0, x1, y1)


def _person_prims(points, head, colors, h_px):
    shirt, pants, skin = colors
    width = max(1, int(round(0.065 * h_px)))
    p = [tuple(q) for q in np.asarray(points, dtype=np.float64).tolist()]
    hip_c = ((p[11][0] + p[12][0]) / 2, (p[11][1] + p[12][1]) / 2)
    shoulder_c = ((p[5][0] + p[6][0]) / 2, (p[5][1] + p[6][1]) / 2)
    far_shirt, far_pants = shade(shirt, 0.7), shade(pants, 0.7)
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
                          shade(color, 0.85)))  # fmt: skip
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
                 ("line", handle, shade(color, 0.6), max(1, int(round(0.8 * u))))]  # fmt: skip
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
                       shade(color, 0.85))]  # fmt: skip
        width = max(1, int(round(1.3 * u)))
        for base, sign in ((x - 5.5 * u, 1), (x - 3.5 * u, -1), (x + 3.5 * u, 1), (x + 5.5 * u, -1)):
            foot = (base + f * leg * math.sin(sign * swing), y)
            prims.append(("line", [(base, body_bottom), foot], shade(color, 0.8), width))
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
    holders = {_holder(plan, j, t) for j in range(len(plan.actors))}  # the persons holding an item at `t`
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
            carry = actor.carry if i in holders else None
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


def _holder(plan: Plan, item: int, t: float) -> int | None:
    """The person holding actor `item` at `t` (None for persons, vehicles and items nobody holds)."""
    actor = plan.actors[item]
    if actor.kind == "person" or actor.kind in VEHICLE_SIZES or not actor.segs:
        return None
    return actor.segment(t)[0].holder


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


def _effect_shows(effect, t: float) -> bool:
    """Whether `effect` changes the background at `t` (the conditions of `render_background`)."""
    if effect.kind == "fire":
        return t >= effect.t0
    if effect.kind == "flame":
        return effect.t0 - 0.1 <= t
    return effect.kind == "puff" and effect.t0 <= t <= effect.t1


def _static_background(plan: Plan) -> np.ndarray:
    """The background with no effect showing (what `render_background` makes of it), computed once per plan."""
    cached = plan.__dict__.get("_static_background")
    if cached is None or cached[0] is not plan.background:
        frame = np.clip(np.round(plan.background.astype(np.float64)), 0, 255).astype(np.uint8)
        fill = (frame == np.array(CLIP_MEAN_FILL, dtype=np.uint8)).all(-1)
        frame[fill, 2] += 1
        cached = plan.__dict__["_static_background"] = (plan.background, frame)
    return cached[1]


def render_background(plan: Plan, t: float) -> np.ndarray:
    """The background at time `t`: the static scene with the active effects (fire, burning paper, smoke)."""
    if not any(_effect_shows(effect, t) for effect in plan.effects):
        return _static_background(plan).copy()
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
    for sx, sy, radius, alpha in smoke:
        if alpha <= 0:
            continue
        # only the window around the disc (one pixel of margin) can be inside it: the same test on fewer pixels
        cx, cy, r = sx * W, sy * H, radius * H
        x0, x1 = max(math.floor(cx - r) - 1, 0), min(math.ceil(cx + r) + 2, W)
        y0, y1 = max(math.floor(cy - r) - 1, 0), min(math.ceil(cy + r) + 2, H)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2) <= (radius * H) ** 2
        window = frame[y0:y1, x0:x1]
        window[inside] = window[inside] * (1 - alpha) + np.array([85.0, 85.0, 90.0]) * alpha
    frame = np.clip(np.round(frame), 0, 255).astype(np.uint8)
    fill = (frame == np.array(CLIP_MEAN_FILL, dtype=np.uint8)).all(-1)
    frame[fill, 2] += 1  # the background never holds the fill colour, so the fill marks exactly the foreground
    return frame


def _draw_prims(draw: ImageDraw.ImageDraw, prims, mask: ImageDraw.ImageDraw | None = None):
    for prim in prims:
        kind = prim[0]
        points = [(float(q[0]), float(q[1])) for q in prim[1]]
        for target, color in ((draw, prim[2]), (mask, 255)):
            if target is None:
                continue
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


__all__ = ["Drawn", "frame_state", "render_background", "render_frame"]
