# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Decode + sampling speed of `processing.video_sherlock.load_video`, decord against PyAV, in one run.

The script writes a synthetic mp4 into a temporary folder with PyAV (tests/video_factory.py, pattern "texture":
a moving sinusoidal texture with moving fine grain and the frame-index code; libx264 "veryfast", CRF 23, yuv420p,
B-frames; about 1.4 Mbit/s at 640 x 360, a realistic bitrate for that size), then times, for each backend:

  1. fixed-rate sampling at `--sample-fps` (default 8 fps: 480 frames from a 60 s video, so `max_frames=None`), i.e.
     decoding the whole stream and converting the sampled frames to RGB;
  2. uniform sampling of 8 frames (`num_frames=8`, Sherlock's default);
  3. sparse fixed-rate sampling at `--sparse-fps` (default 1 fps), where PyAV seeks to the keyframe before each
     sampled frame instead of decoding the whole stream; `--gop` sets the keyframe interval of the video (default:
     the encoder's, 250 frames for libx264), e.g. `--gop 30` for a keyframe every second as cameras write.

Each figure is the median wall time of `--repeats` calls after one untimed warm-up call (imports, page cache), all
in this process, the backends alternating so that drift of the machine hits both alike. Reported: wall time, sampled
frames per second, video frames per second (frames of the video up to the last sampled one, per wall second: the
decode rate of PyAV's sequential decode; decord seeks to key frames for sparse samples and skips some), and the
real-time factor = seconds of video per wall second; for PyAV also the number of frames it decoded (counted through
`video_sherlock._decode_packet`), to compare with the frames up to the last sampled one that a sequential decode
would go through.
The stated goal, ">= 10x real time for decode + 8 fps sampling on 2 cores", is printed as PASS / FAIL per backend
(nothing is asserted). A sanity check reads the frame-index code back from the sampled frames and checks that both
backends returned the same frames.

    python benchmarks/benchmark_video_io.py            # 640x360, 60 s, 30 fps (about a minute on 2 cores)
    python benchmarks/benchmark_video_io.py --quick    # a tiny smoke run (a few seconds)
"""

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402

from processing import video_sherlock  # noqa: E402
from processing.video_sherlock import load_video  # noqa: E402

import video_factory  # noqa: E402


GOAL_REALTIME_FACTOR = 10.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of video (default 60)")
    parser.add_argument("--fps", type=float, default=30.0, help="native frame rate (default 30)")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--sample-fps", type=float, default=8.0, help="fixed sampling rate (default 8)")
    parser.add_argument("--num-frames", type=int, default=8, help="frames of the uniform sampling (default 8)")
    parser.add_argument("--sparse-fps", type=float, default=1.0, help="sparse fixed sampling rate (default 1)")
    parser.add_argument("--gop", type=int, default=None, help="keyframe interval of the video (default: encoder's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per figure (default 3; median)")
    parser.add_argument("--backends", default="decord,pyav", help="comma-separated (default decord,pyav)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: 4 s of 160x96 video, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.size, args.repeats = 4.0, "160x96", 1
    return args


def _check_frames(clip):
    decoded = [video_factory.frame_index_of(frame) for frame in clip.frames]
    return decoded == clip.frame_indices.tolist()


@contextlib.contextmanager
def _count_decoded_frames():
    """Count the frames PyAV decodes (through the `_decode_packet` hook of video_sherlock) within the block."""
    counter, original = [0], video_sherlock._decode_packet

    def counting(packet):
        frames = original(packet)
        counter[0] += len(frames)
        return frames

    video_sherlock._decode_packet = counting
    try:
        yield counter
    finally:
        video_sherlock._decode_packet = original


def main(argv=None) -> dict:
    args = parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    num_native = int(round(args.duration * args.fps))
    results = {"goal_realtime_factor": GOAL_REALTIME_FACTOR, "repeats": args.repeats}

    with tempfile.TemporaryDirectory(prefix="sherlock-video-bench-") as tmp:
        path = Path(tmp) / "bench.mp4"
        start = time.perf_counter()
        video_factory.write_video(
            path, num_frames=num_native, fps=args.fps, size=(width, height), pattern="texture", gop=args.gop
        )
        generate_s = time.perf_counter() - start
        size_bytes = path.stat().st_size
        results["video"] = {
            "width": width,
            "height": height,
            "fps": args.fps,
            "frames": num_native,
            "duration_s": num_native / args.fps,
            "codec": video_factory.default_codec(),
            "keyframes": len(video_factory.keyframe_indices(path)),
            "bytes": size_bytes,
            "kbit_per_s": size_bytes * 8 / (num_native / args.fps) / 1e3,
            "generate_s": generate_s,
        }
        print(
            f"video: {width}x{height}, {num_native / args.fps:g} s at {args.fps:g} fps ({num_native} frames), "
            f"{results['video']['codec']}, {results['video']['keyframes']} keyframes, {size_bytes / 1e6:.2f} MB "
            f"({results['video']['kbit_per_s']:.0f} kbit/s); "
            f"written in {generate_s:.1f} s"
        )

        modes = (
            ("fixed_rate", {"fps": args.sample_fps, "max_frames": None}),
            ("uniform", {"num_frames": args.num_frames}),
            ("sparse", {"fps": args.sparse_fps, "max_frames": None}),
        )
        for mode, kwargs in modes:
            runs = {backend: [] for backend in backends}
            clips, decoded = {}, {}
            # round-robin over the backends: one warm-up each, then alternating timed calls
            for backend in backends:
                with _count_decoded_frames() as counter:
                    clips[backend] = load_video(path, backend=backend, **kwargs)
                decoded[backend] = counter[0] if backend == "pyav" else None
            for _ in range(args.repeats):
                for backend in backends:
                    start = time.perf_counter()
                    clips[backend] = load_video(path, backend=backend, **kwargs)
                    runs[backend].append(time.perf_counter() - start)
            figures = {}
            for backend in backends:
                clip, median = clips[backend], statistics.median(runs[backend])
                figures[backend] = {
                    "median_s": median,
                    "runs_s": runs[backend],
                    "sampled_frames": len(clip.frame_indices),
                    "sampled_frames_per_s": len(clip.frame_indices) / median,
                    "video_frames_per_s": (int(clip.frame_indices[-1]) + 1) / median,
                    "realtime_factor": clip.duration / median,
                    "frames_ok": _check_frames(clip),
                    "decoded_frames": decoded[backend],  # PyAV only (decord's decoding is not observable)
                    "backend_used": clip.backend,
                }
            if len(backends) == 2:
                a, b = (clips[backend] for backend in backends)
                figures["backends_agree"] = bool(
                    np.array_equal(a.frame_indices, b.frame_indices) and np.array_equal(a.timestamps, b.timestamps)
                )
                figures["mean_abs_pixel_diff"] = float(np.abs(a.frames.astype(np.int16) - b.frames).mean())
            results[mode] = figures

    label = {
        "fixed_rate": f"decode + sampling at {args.sample_fps:g} fps",
        "uniform": f"decode of {args.num_frames} uniform frames",
        "sparse": f"decode + sparse sampling at {args.sparse_fps:g} fps",
    }
    for mode in ("fixed_rate", "uniform", "sparse"):
        print(f"\n{label[mode]} (median of {args.repeats} after a warm-up):")
        for backend in backends:
            f = results[mode][backend]
            line = (
                f"  {backend:7s} {f['median_s'] * 1e3:8.1f} ms  {f['sampled_frames']:4d} frames  "
                f"{f['sampled_frames_per_s']:7.1f} sampled frames/s  {f['video_frames_per_s']:7.1f} video frames/s  "
                f"{f['realtime_factor']:6.1f}x real time  frames {'OK' if f['frames_ok'] else 'WRONG'}"
            )
            if f["decoded_frames"] is not None:
                line += f"  ({f['decoded_frames']} frames decoded)"
            if mode == "fixed_rate":
                verdict = "PASS" if f["realtime_factor"] >= GOAL_REALTIME_FACTOR else "FAIL"
                line += f"  [{verdict}: goal >= {GOAL_REALTIME_FACTOR:g}x]"
            print(line)
        if "backends_agree" in results[mode]:
            print(
                f"  decord vs pyav: same indices and timestamps: {results[mode]['backends_agree']}, "
                f"mean |pixel difference| {results[mode]['mean_abs_pixel_diff']:.3f}"
            )
    return results


if __name__ == "__main__":
    main()
