"""Render `examples/demo.mp4`, the small example video the README's first command analyzes.

A procedurally drawn street (road, pavement, a building), a car driving left to right and a stick-figure person who
walks onto the road and falls at about 2.5 s. Deterministic: rerun `python examples/make_demo_video.py` to get the
same frames (the mp4 bytes may differ across PyAV / x264 versions).
"""

import argparse
from pathlib import Path

import av
import numpy as np


WIDTH, HEIGHT, FPS, SECONDS = 320, 180, 10, 5


def _line(canvas: np.ndarray, p0, p1, color, width: int = 2) -> None:
    steps = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    for t in np.linspace(0.0, 1.0, steps):
        x, y = int(round(p0[0] + t * (p1[0] - p0[0]))), int(round(p0[1] + t * (p1[1] - p0[1])))
        canvas[max(y - width // 2, 0) : y + width // 2 + 1, max(x - width // 2, 0) : x + width // 2 + 1] = color


def _person(canvas: np.ndarray, x: float, y: float, fallen: float) -> None:
    """A stick figure standing at foot position (x, y); `fallen` in [0, 1] rotates it to lying on the ground."""
    angle = fallen * np.pi / 2

    def at(dx, dy):  # rotate body coordinates (dy up) around the feet
        return (x + dx * np.cos(angle) + dy * np.sin(angle), y - dy * np.cos(angle) + dx * np.sin(angle))

    color = (230, 200, 60)
    hip, neck, head = at(0, 18), at(0, 36), at(0, 42)
    _line(canvas, at(-6, 0), hip, color)
    _line(canvas, at(6, 0), hip, color)
    _line(canvas, hip, neck, color)
    _line(canvas, at(-9, 24), neck, color)
    _line(canvas, at(9, 24), neck, color)
    hx, hy = int(head[0]), int(head[1])
    canvas[max(hy - 4, 0) : hy + 4, max(hx - 4, 0) : hx + 4] = color


def render_frame(index: int) -> np.ndarray:
    t = index / FPS
    frame = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:60] = (120, 160, 210)  # sky
    frame[20:60, 200:280] = (150, 110, 90)  # building
    frame[60:100] = (170, 170, 160)  # pavement
    frame[100:] = (70, 70, 75)  # road
    frame[138:142, ::24] = (230, 230, 230)  # lane marks
    car_x = int(-60 + 70 * t)
    frame[120:140, max(car_x, 0) : max(car_x + 50, 0)] = (200, 30, 30)
    fallen = float(np.clip((t - 2.3) / 0.4, 0.0, 1.0))
    walk = min(t, 2.3)
    _person(frame, 140 + 6 * walk, 95 + 12 * walk, fallen)
    return frame


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).with_name("demo.mp4")))
    args = parser.parse_args(argv)
    with av.open(args.output, mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "28", "preset": "veryslow"}
        for index in range(FPS * SECONDS):
            for packet in stream.encode(av.VideoFrame.from_ndarray(render_frame(index), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
