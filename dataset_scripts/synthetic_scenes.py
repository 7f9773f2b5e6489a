"""The scenes of the synthetic M-VAE videos (`build_synthetic`): where people walk and vehicles drive in each scene
(`SCENE_SPECS`) and the painted static background of each (`paint_background`: a distinct colour / texture layout per
scene, so the background expert has evidence)."""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from dataset_scripts.synthetic_world import SHIRT_COLORS, pick, shade
from processing.vocabulary_sherlock import SCENES


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
                rng, pick(rng, ((170, 120, 100), (200, 180, 150), (140, 140, 150), (190, 160, 120), (120, 100, 90)))
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
        rect(0, 0, 1, 0.6, _jitter(rng, pick(rng, ((225, 215, 185), (200, 225, 215), (230, 200, 200)))))
        for x0 in (float(rng.uniform(0.03, 0.1)), float(rng.uniform(0.52, 0.6))):
            rect(x0, 0.08, x0 + 0.38, 0.58, (140, 100, 60))
            for sy in (0.2, 0.34, 0.48):
                rect(x0 + 0.01, sy, x0 + 0.37, sy + 0.02, (110, 75, 45))
                px = x0 + 0.015
                while px < x0 + 0.35:
                    pw = float(rng.uniform(0.02, 0.05))
                    ph = float(rng.uniform(0.05, 0.1))
                    rect(px, sy - ph, min(px + pw, x0 + 0.37), sy, pick(rng, SHIRT_COLORS))
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
            rect(0, gy, 1, gy + 0.05, grass if i % 2 == 0 else shade(grass, 1.1))
        rect(0, 0.66, 1, 0.76, _jitter(rng, (205, 190, 150)))
    elif scene == "Factory":
        wall = _jitter(rng, (150, 155, 165))
        rect(0, 0, 1, 0.57, wall)
        for lx in np.arange(0, 1, 0.1):
            d.line([(lx * W, 0), (lx * W, 0.57 * H)], fill=shade(wall, 0.85))
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
        wall = _jitter(rng, pick(rng, ((230, 220, 190), (200, 215, 230), (235, 200, 170))))
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
            d.line([(0, by * H), (W, by * H)], fill=shade(brick, 0.8))
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


__all__ = ["SCENE_SPECS", "SYNTHETIC_SCENES", "SceneSpec", "paint_background"]
