# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The hand-checked sets of M-VAE's event elements: the samples, their labels and the agreement of the builder's
labels with them.

    python -m dataset_scripts.mvae_devset draw --dataset DIR [--size 104 --seed 12]   # the sample (no labels)
    python -m dataset_scripts.mvae_devset score --dataset DIR                         # agreement per slot
    python -m dataset_scripts.mvae_devset score --dataset DIR --dev-dir dataset_scripts/data/mvae_check

Two sets, both drawn from the **train** split: the development set (`data/mvae_dev/`, 104 events, seed 12), which
the extraction rules of `mvae_frames` were written against, and the check set (`data/mvae_check/`, 80 other events,
seed 13, `--exclude-dir data/mvae_dev`), labelled by other readers and held out: never read while writing the rules,
so its agreement is the honest estimate. The build states both on the card (`label_quality`).

Each set's folder holds `sample.jsonl` (the events drawn from the **train** split, with the CUVA texts
a reader needs: the segment's description, the reason, the result, the sub-class) and `labels.jsonl` (one line per
sampled event, written by people reading those texts under `CONVENTIONS.md`: for each slot a main label and the
acceptable alternatives, and a note). Code draws the sample, checks the labels against the vocabulary and scores;
it never writes a label.
"""

import argparse
import json
import random
import sys
from pathlib import Path


DEV_DIR = Path(__file__).resolve().parent / "data" / "mvae_dev"
CHECK_DIR = Path(__file__).resolve().parent / "data" / "mvae_check"  # held out: labelled, never used to tune
SLOTS = ("event_type", "subject", "object", "scene")


def event_texts(row: dict, categories: dict[str, str]) -> list[dict]:
    """For each event of an M-VAE row, the texts it was built from: its segment's description, the reason, the result
    and the sub-class (code and name)."""
    from .mvae_cuva import pair_types_with_segments, parse_descriptions, parse_moments, parse_type_codes

    source = row["source"]
    segments = parse_moments(source["moment"])
    good = [index for index, segment in enumerate(segments) if segment.problem is None]
    if len(good) != len(row["events"]):  # the builder dropped a segment it could not place: align by position
        good = list(range(len(row["events"])))
    descriptions = parse_descriptions(source["description"])
    codes, _ = pair_types_with_segments(parse_type_codes(source["type_codes"], categories), max(len(segments), 1))
    texts = []
    for segment in good:
        if len(descriptions) == len(segments) and segment < len(descriptions):
            description = descriptions[segment]
        else:
            description = " ".join(descriptions)
        code = codes[min(segment, len(codes) - 1)] if codes else ""
        texts.append(
            {
                "segment_description": description.strip(),
                "reason": source["reason"],
                "result": source["result"],
                "subclass": f"{code} {categories.get(code, '')}".strip(),
            }
        )
    return texts


def draw_dev_sample(
    rows: list[dict], size: int, seed: int, categories: dict[str, str], exclude: set | frozenset = frozenset()
) -> list[dict]:
    """`size` events drawn uniformly without replacement (Python's `random.Random(seed).sample`) from the events of
    the train rows, in their drawn order, each with its type and texts; not the builder's other labels (a reader who
    sees them is nudged towards them). `exclude`: `(video_id, event_index)` keys left out of the draw (the held-out
    check set is drawn without the development set's events)."""
    candidates = [
        (row, index)
        for row in rows
        if row["split"] == "train"
        for index in range(len(row["events"]))
        if (row["video_id"], index) not in exclude
    ]
    if size > len(candidates):
        raise ValueError(f"cannot draw {size} events from {len(candidates)} train events")
    sample = []
    for row, index in random.Random(seed).sample(candidates, size):
        event = row["events"][index]
        sample.append(
            {
                "video_id": row["video_id"],
                "event_index": index,
                "start": event["start"],
                "end": event["end"],
                "event_type": event["event_type"],
                **event_texts(row, categories)[index],
            }
        )
    return sample


def load_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def check_labels(labels: list[dict], sample: list[dict]) -> None:
    """Every sampled event has exactly one label line, and every label (main or alternative) is in the shared
    vocabulary of its slot; a `ValueError` lists every problem."""
    from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES

    vocabulary = {
        "event_type": set(EVENT_TYPES),
        "subject": set(ENTITIES),
        "object": set(ENTITIES),
        "scene": set(SCENES),
    }
    problems = []
    keys = [(s["video_id"], s["event_index"]) for s in sample]
    unkeyed = [index for index, label in enumerate(labels) if "video_id" not in label or "event_index" not in label]
    if unkeyed:
        raise ValueError(f"label lines {unkeyed} have no video_id / event_index")
    labelled = [(label["video_id"], label["event_index"]) for label in labels]
    if sorted(labelled) != sorted(keys):
        missing, extra = set(keys) - set(labelled), set(labelled) - set(keys)
        duplicated = {key for key in labelled if labelled.count(key) > 1}
        problems.append(f"labels do not match the sample: missing {sorted(missing)}, extra {sorted(extra)}, "
                        f"duplicated {sorted(duplicated)}")  # fmt: skip
    for label in labels:
        for slot in SLOTS:
            entry = label.get(slot)
            if not isinstance(entry, dict) or "label" not in entry:
                problems.append(f"{label['video_id']}#{label['event_index']}: no {slot} label")
                continue
            for value in [entry["label"], *entry.get("alternatives", [])]:
                if value not in vocabulary[slot]:
                    problems.append(
                        f"{label['video_id']}#{label['event_index']}: {slot} {value!r} not in the vocabulary"
                    )
    if problems:
        raise ValueError("; ".join(problems))


def agreement(labels: list[dict], built: dict[tuple[str, int], dict]) -> dict[str, float]:
    """Per slot, the share of labelled events whose built value is the main label or a listed alternative."""
    if not labels:
        raise ValueError("no labels to score")
    missing = sorted(
        (label["video_id"], label["event_index"])
        for label in labels
        if (label["video_id"], label["event_index"]) not in built
    )
    if missing:
        raise ValueError(f"labelled events not in the built train split: {missing}")
    scores = {}
    for slot in SLOTS:
        hits = 0
        for label in labels:
            value = built[(label["video_id"], label["event_index"])][slot]
            hits += value in {label[slot]["label"], *label[slot].get("alternatives", [])}
        scores[slot] = hits / len(labels)
    return scores


LABELLED_SETS = {"development": DEV_DIR, "check": CHECK_DIR}
"""The hand-labelled sets: the development set the extraction rules were written against, and the check set, held
out (never read while writing the rules)."""
TEXT_FIELDS = ("segment_description", "reason", "result", "subclass")


def label_quality(rows: list[dict], categories: dict[str, str]) -> dict[str, dict]:
    """Per labelled set (`LABELLED_SETS`), the agreement of a build's events with the labels.

    Returns `{set name: {"events": n, "matched": k, "agreement": {slot: share} | None}}`: an event is matched when the
    build has it in its train split with the very texts it was labelled from (a `--limit` build or another CUVA copy
    may not); the agreement is measured only when every labelled event is matched.
    """
    train = {row["video_id"]: row for row in rows if row["split"] == "train"}
    quality = {}
    for name, folder in LABELLED_SETS.items():
        sample, labels = load_jsonl(folder / "sample.jsonl"), load_jsonl(folder / "labels.jsonl")
        built = {}
        for item in sample:
            row, index = train.get(item["video_id"]), item["event_index"]
            if row is None or index >= len(row["events"]) or row["events"][index]["event_type"] != item["event_type"]:
                continue
            texts = event_texts(row, categories)[index]
            if all(texts[field] == item[field] for field in TEXT_FIELDS):
                built[(item["video_id"], index)] = row["events"][index]
        matched = len(built) == len(sample)
        quality[name] = {
            "events": len(sample),
            "matched": len(built),
            "agreement": agreement(labels, built) if matched else None,
        }
    return quality


def built_events(dataset: str) -> dict[tuple[str, int], dict]:
    """`{(video_id, event index): event}` of a built M-VAE folder's train split."""
    from sherlock.evaluation.dataset import load_split_rows

    return {
        (row["video_id"], index): event
        for row in load_split_rows(dataset, "train")
        for index, event in enumerate(row["events"])
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_scripts.mvae_devset", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=("draw", "score"))
    parser.add_argument("--dataset", required=True, help="a folder built by sherlock-build-mvae")
    parser.add_argument("--size", type=int, default=104)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--dev-dir", default=str(DEV_DIR), help="the set's folder (sample.jsonl, labels.jsonl)")
    parser.add_argument(
        "--exclude-dir",
        default=None,
        help="draw: leave out the events of this set's sample.jsonl (the held-out check set excludes the dev set)",
    )
    args = parser.parse_args(argv)
    dev = Path(args.dev_dir)
    if args.command == "draw":
        from sherlock.evaluation.dataset import load_split_rows

        from .mvae_cuva import read_categories

        categories = read_categories(Path(__file__).resolve().parent / "data" / "cuva" / "Category.txt")
        exclude = set()
        if args.exclude_dir:
            exclude = {(s["video_id"], s["event_index"]) for s in load_jsonl(Path(args.exclude_dir) / "sample.jsonl")}
        rows = load_split_rows(args.dataset, "train")
        sample = draw_dev_sample(rows, args.size, args.seed, categories, exclude)
        dev.mkdir(parents=True, exist_ok=True)
        with open(dev / "sample.jsonl", "w", encoding="utf-8") as handle:
            for item in sample:
                handle.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"{len(sample)} events (seed {args.seed}) -> {dev / 'sample.jsonl'}")
        return 0
    sample, labels = load_jsonl(dev / "sample.jsonl"), load_jsonl(dev / "labels.jsonl")
    check_labels(labels, sample)
    for slot, share in agreement(labels, built_events(args.dataset)).items():
        print(f"{slot}: {100 * share:.1f} % of {len(labels)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
