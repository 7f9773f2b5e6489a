"""Pick `examples/demo.mp4`, the example video of the README's first command, and write its annotation
`examples/demo.json`.

The video is a synthetic M-VAE video (`sherlock-build-synthetic`) of seed `--seed` (default 7): neither the demo
model (trained on seed 0, evaluated on seed 5) nor its extractors (trained on seed 0, measured on seeds 1 and 3) saw
that seed. The pick is stated, not hidden: the first video of that set with exactly one event that the demo model
finds (its event type, and its start and end within 1 s). The script prints how many single-event videos it tried
before; the demo model's quality on unseen videos as a whole is in `sherlock/demo_model/demo_training.json`.

    python examples/make_demo_video.py [--seed 7] [--candidates 40] [--model demo]
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path


HERE = Path(__file__).resolve().parent
TOLERANCE_S = 1.0


def found(gold: dict, events) -> bool:
    """Whether `events` (the model's) hold `gold`'s event type with start and end within `TOLERANCE_S`."""
    return any(
        event.event_type == gold["event_type"]
        and abs(event.start - gold["start"]) <= TOLERANCE_S
        and abs(event.end - gold["end"]) <= TOLERANCE_S
        for event in events
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic set the video comes from")
    parser.add_argument("--candidates", type=int, default=40, help="videos of that set to look through")
    parser.add_argument("--model", default="demo", help="the model that must find the event (default: the demo)")
    parser.add_argument("--output-dir", default=str(HERE), help="where demo.mp4 and demo.json go")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic
    from sherlock.analyze import analyze_video
    from sherlock.evaluation.dataset import load_split_rows
    from sherlock.loading import load_sherlock, resolve_model

    model, processor = load_sherlock(resolve_model(args.model))
    with tempfile.TemporaryDirectory(prefix="demo-video-") as scratch:
        folder = Path(scratch) / "synthetic"
        build_synthetic(SyntheticArguments(output_dir=str(folder), num_videos=args.candidates, seed=args.seed))
        rows = sorted(load_split_rows(str(folder), "all"), key=lambda row: row["video"])
        tried = 0
        for row in rows:
            if len(row["events"]) != 1:
                continue
            tried += 1
            result = analyze_video(model, processor, str(folder / "videos" / row["video"]))
            if found(row["events"][0], result.events):
                break
        else:
            raise SystemExit(f"the model found none of the {tried} single-event videos of seed {args.seed}")
        output = Path(args.output_dir)
        shutil.copyfile(folder / "videos" / row["video"], output / "demo.mp4")
    note = {
        "source": f"sherlock-build-synthetic --seed {args.seed}: {row['video']}",
        "picked": f"the first single-event video the model found, after {tried - 1} it missed",
        "events": row["events"],
        "scene": row["source"]["scene"],
    }
    (output / "demo.json").write_text(json.dumps(note, indent=1) + "\n", encoding="utf-8")
    print(f"{output / 'demo.mp4'}: {row['video']} of seed {args.seed}; {note['picked']}; {row['events'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
