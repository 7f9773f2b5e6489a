"""`sherlock-build-synthetic`: deterministic per seed, answers that parse back to the events, oracle features that load
through the processor's `precomputed` backend (and feed a tiny Sherlock), evidence in the modality each event type
claims, and a folder that `load_dataset` reads offline."""

import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from dataset_scripts.build_synthetic import SyntheticArguments, main
from dataset_scripts.mvae_schema import mvae_features
from dataset_scripts.synthetic_build import EXTRACTOR_IDS, SOURCE_FIELDS, build_synthetic
from dataset_scripts.synthetic_oracle import (
    MAX_OBJECTS,
    MAX_PERSONS,
    MAX_RELATIONS,
    OBJECT_LABELS,
    keypoints_inside,
    oracle_features,
)
from dataset_scripts.synthetic_plan import plan_video, split_of
from dataset_scripts.synthetic_render import frame_state, render_frame
from dataset_scripts.synthetic_scenes import SCENE_SPECS
from dataset_scripts.synthetic_world import ADULT, EVENT_SPECS, SYNTHETIC_EVENT_TYPES
from modeling_sherlock import SherlockForConditionalGeneration
from processing import (
    NO_EVENT_ANSWER,
    FeatureCache,
    SherlockProcessor,
    format_events,
    load_video,
    post_process_events,
    video_content_hash,
)
from processing.extractors_sherlock import CLIP_MEAN_FILL
from processing.relations_sherlock import RELATION_PREDICATES
from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES
from sherlock.tiny_models import build_tiny_sherlock, tiny_image_processor, train_tokenizer


SEED, NUM_VIDEOS, NUM_FRAMES = 3, 6, 4
SMALL = {"num_videos": NUM_VIDEOS, "num_frames": NUM_FRAMES, "duration": 4.0, "size": "96x64", "num_workers": 1}
VEHICLES = {OBJECT_LABELS[k] for k in ("bicycle", "car", "motorcycle", "bus", "truck")}
PERSON = OBJECT_LABELS["person"]


def _build(folder: Path, seed: int = SEED, **changes) -> dict:
    return build_synthetic(SyntheticArguments(output_dir=str(folder), seed=seed, **{**SMALL, **changes}))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    summary = _build(folder)
    return folder, summary


def _rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted((folder / "default").glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda row: row["video_id"])


def _oracle_entries(folder: Path) -> dict[str, bytes]:
    """safetensors bytes of the oracle entries, keyed by their manifest's source video."""
    entries = {}
    for manifest in sorted((folder / "features").rglob("*.json")):
        description = json.loads(manifest.read_text())
        if description["extractor_ids"] == EXTRACTOR_IDS:
            entries[description["source"]] = manifest.with_suffix(".safetensors").read_bytes()
    return entries


def _processor(folder: Path) -> SherlockProcessor:
    return SherlockProcessor(
        image_processor=tiny_image_processor(),
        tokenizer=train_tokenizer(),
        num_frames=NUM_FRAMES,
        patch_size=8,
        extractors={"backend": "precomputed"},
        feature_cache_dir=str(folder / "features"),
        cache_pixels=False,
    )


# ------------------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_another_seed_other_rows(built, tmp_path):
    folder, _ = built
    # The same seed in a pool of 2 worker processes: parquet, mp4 and oracle features are byte for byte the same
    # (libx264 runs single-threaded with fixed options, so it is bit-exact for the same frames).
    again = tmp_path / "again"
    _build(again, num_workers=2)
    parquets = sorted(p.relative_to(folder) for p in (folder / "default").glob("*.parquet"))
    assert parquets == sorted(p.relative_to(again) for p in (again / "default").glob("*.parquet"))
    for path in parquets:
        assert (folder / path).read_bytes() == (again / path).read_bytes()
    videos = sorted(p.name for p in (folder / "videos").glob("*.mp4"))
    assert len(videos) == NUM_VIDEOS
    for name in videos:
        assert (folder / "videos" / name).read_bytes() == (again / "videos" / name).read_bytes()
    first, second = _oracle_entries(folder), _oracle_entries(again)
    assert len(first) == NUM_VIDEOS and first == second
    # Another seed: other rows.
    other = tmp_path / "other"
    _build(other, seed=SEED + 1)
    assert [r["events"] for r in _rows(other)] != [r["events"] for r in _rows(folder)]
    assert (other / "videos" / videos[0]).read_bytes() != (folder / "videos" / videos[0]).read_bytes()


def test_one_video_regenerates_alone_from_seed_and_index(built):
    folder, _ = built
    rows = _rows(folder)
    row = rows[-1]
    plan = plan_video(SEED, NUM_VIDEOS - 1, duration=4.0, fps=8.0, size=(96, 64))  # without the other videos
    assert plan.events == row["events"]
    assert abs(plan.duration - row["duration"]) < 1e-6
    assert row["split"] == split_of(SEED, NUM_VIDEOS - 1, 0.2)
    clip = load_video(folder / "videos" / row["video"], num_frames=NUM_FRAMES)
    for frame, index in zip(clip.frames, clip.frame_indices):
        rendered = render_frame(plan, int(index)).astype(np.int16)
        assert np.abs(frame.astype(np.int16) - rendered).mean() < 6  # the decoded frame is the rendered one (lossy)


# ------------------------------------------------------------------------------------------------- rows / events


def test_every_answer_parses_back_to_exactly_its_events(built):
    folder, _ = built
    rows = _rows(folder)
    assert len(rows) == NUM_VIDEOS
    for row in rows:
        parsed = post_process_events(row["answer"], duration=row["duration"])
        assert [e.to_dict() | {"score": None} for e in parsed] == [{**e, "score": None} for e in row["events"]]
        assert row["answer"] == format_events(row["events"])
        assert (row["answer"] == NO_EVENT_ANSWER) == (not row["events"])


def test_events_lie_in_the_video_and_in_the_vocabularies(built):
    folder, _ = built
    for row in _rows(folder):
        clip = load_video(folder / "videos" / row["video"], num_frames=NUM_FRAMES, decode=False)
        assert row["duration"] == pytest.approx(clip.duration, abs=1e-6)
        assert set(row["source"]) == set(SOURCE_FIELDS) and row["source"]["seed"] == str(SEED)
        spans = []
        for event in row["events"]:
            assert 0.0 <= event["start"] < event["end"] <= row["duration"]
            assert round(event["start"], 1) == event["start"] and round(event["end"], 1) == event["end"]
            assert event["event_type"] in EVENT_TYPES and event["event_type"] in SYNTHETIC_EVENT_TYPES
            assert event["scene"] in SCENES and event["scene"] in EVENT_SPECS[event["event_type"]].scenes
            assert event["subject"] in ENTITIES and event["object"] in ENTITIES
            spans.append((event["start"], event["end"]))
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))  # one after the other
        assert len({event["scene"] for event in row["events"]}) <= 1  # one scene per video


def test_moderate_counts_hold_videos_with_0_1_and_2_events_and_every_type():
    plans = [plan_video(SEED, index) for index in range(30)]
    counts = [len(plan.events) for plan in plans]
    assert {0, 1, 2} <= set(counts)
    assert 0.15 <= counts.count(0) / 30 <= 0.35 and counts.count(2) >= 5
    types = {event["event_type"] for plan in plans for event in plan.events}
    assert types == set(SYNTHETIC_EVENT_TYPES)  # the first event cycles through the 10 types
    assert len({plan.scene for plan in plans}) >= 6
    assert {split_of(SEED, index, 0.2) for index in range(30)} == {"train", "test"}


# ------------------------------------------------------------------------------------------------ oracle features


def test_oracle_features_load_through_the_precomputed_processor(built):
    folder, _ = built
    rows = _rows(folder)
    paths = [str(folder / "videos" / row["video"]) for row in rows]
    processor = _processor(folder)
    batch = processor(videos=paths, return_metadata=True)
    assert processor._extractor_set is None  # no extractor model was built
    B, F = len(paths), NUM_FRAMES
    assert batch["pixel_values_videos"].shape == (B, F, 3, 32, 32)
    assert batch["pose_keypoints"].shape == (B, F, MAX_PERSONS, 17, 3)
    assert batch["object_boxes"].shape == (B, F, MAX_OBJECTS, 4)
    assert batch["relation_triplets"].shape == (B, F, MAX_RELATIONS, 3)
    assert batch["background_pixel_values"].shape == (B, F, 3, 32, 32)
    window = processor.view_window(64, 96)  # the centre crop the model sees

    def in_view(points):
        x, y = points[:, 0] / 96, points[:, 1] / 64
        return (x >= window.x0) & (x <= window.x1) & (y >= window.y0) & (y <= window.y1)

    for b, row in enumerate(rows):
        plan = plan_video(SEED, int(row["source"]["index"]), duration=4.0, fps=8.0, size=(96, 64))
        times = batch["video_metadata"][b]["timestamps"]
        for f, t in enumerate(times):
            # pose rows = persons drawn with some keypoint inside the frame and inside the model's view
            drawn = [
                d
                for d in frame_state(plan, round(t * plan.fps) / plan.fps)
                if d.kind == "person" and (keypoints_inside(d.keypoints, 96, 64) & in_view(d.keypoints)).any()
            ]
            pose_mask = batch["pose_mask"][b, f]
            assert int(pose_mask.sum()) == len(drawn) >= 1
            person_objects = batch["object_mask"][b, f] & (batch["object_labels"][b, f] == PERSON)
            assert person_objects[:MAX_PERSONS][pose_mask].all()  # pose row p is (person) object p
            assert not person_objects[MAX_PERSONS:].any() and person_objects.sum() >= pose_mask.sum()
            keypoints = batch["pose_keypoints"][b, f][pose_mask]
            boxes = batch["object_boxes"][b, f, :MAX_PERSONS][pose_mask]
            visible = keypoints[..., 2] > 0
            assert visible.any(-1).all() and set(keypoints[..., 2].unique().tolist()) <= {0.0, 1.0}
            xy = keypoints[..., :2]
            inside = (xy >= boxes[:, None, :2] - 1e-4) & (xy <= boxes[:, None, 2:] + 1e-4)
            assert inside.all(-1)[visible].all()  # every visible keypoint lies in its person's box
        assert not batch["pose_keypoints"][b][~batch["pose_mask"][b]].any()  # padding is zero


def test_relation_triplets_point_at_unmasked_objects(built):
    folder, _ = built
    cache = FeatureCache(folder / "features")
    seen = set()
    for row in _rows(folder):
        path = folder / "videos" / row["video"]
        clip = load_video(path, num_frames=NUM_FRAMES, decode=False)
        features = cache.load(video_content_hash(path), clip.timestamps, EXTRACTOR_IDS)
        for f in range(NUM_FRAMES):
            count = int(features["object_mask"][f].sum())
            assert features["object_mask"][f, :count].all()  # unmasked objects first
            labels = features["object_labels"][f]
            assert (labels[:count] < 80).all() and set(labels[:count]) <= set(OBJECT_LABELS.values())
            triplets = features["relation_triplets"][f][features["relation_mask"][f]]
            assert not features["relation_triplets"][f][~features["relation_mask"][f]].any()
            for subject, predicate, obj in triplets:
                assert 0 <= subject < count and 0 <= obj < count and subject != obj
                assert 0 <= predicate < len(RELATION_PREDICATES)
                name = RELATION_PREDICATES[predicate]
                seen.add(name)
                if name == "holding":
                    assert labels[subject] == PERSON
                    assert labels[obj] in (OBJECT_LABELS["handbag"], OBJECT_LABELS["cell phone"])
                if name == "riding":
                    assert labels[subject] == PERSON and labels[obj] in VEHICLES
            pairs = [frozenset((s, o)) for s, _, o in triplets]
            assert len(pairs) == len(set(pairs))  # one relation per pair
    assert len(seen) >= 3


def test_background_frames_blank_exactly_the_drawn_foreground(built):
    folder, _ = built
    cache = FeatureCache(folder / "features")
    fill = np.array(CLIP_MEAN_FILL, dtype=np.uint8)
    for row in _rows(folder):
        path = folder / "videos" / row["video"]
        clip = load_video(path, num_frames=NUM_FRAMES)
        features = cache.load(video_content_hash(path), clip.timestamps)
        background = features["background_frames"]
        assert background.shape == clip.frames.shape and background.dtype == np.uint8
        H, W = background.shape[1:3]
        for f in range(NUM_FRAMES):
            blank = (background[f] == fill).all(-1)
            covered = np.zeros((H, W), bool)
            for box in features["object_boxes"][f][features["object_mask"][f]]:
                x0, y0, x1, y1 = box * [W, H, W, H]
                covered[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
                inner = blank[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))]
                assert inner.any()  # every object box holds drawn (blanked) pixels
            assert blank.any() and not (blank & ~covered).any()  # blanked pixels belong to object boxes
            # elsewhere the background frame is the video frame (up to the codec's loss)
            difference = np.abs(background[f].astype(int) - clip.frames[f].astype(int))[~covered]
            assert difference.mean() < 8


def test_a_tiny_sherlock_accepts_the_processor_batch(built, tmp_path):
    folder, _ = built
    rows = _rows(folder)[:2]
    model_dir = build_tiny_sherlock(tmp_path / "model", extractors={"backend": "precomputed"}, num_frames=NUM_FRAMES)
    model = SherlockForConditionalGeneration.from_pretrained(model_dir).eval()
    batch = _processor(folder)(videos=[str(folder / "videos" / row["video"]) for row in rows])
    with torch.no_grad():
        output = model(**batch)
    assert output.logits.shape[:2] == batch["input_ids"].shape
    assert torch.isfinite(output.logits).all()


# -------------------------------------------------------------------------------------------------- evidence


def _find(event_type: str):
    for index in range(200):
        plan = plan_video(SEED, index)
        for event in plan.events:
            if event["event_type"] == event_type:
                return plan, event
    raise AssertionError(f"no {event_type} event in 200 videos")


def _at(plan, t: float) -> int:
    return int(round(t * plan.fps))


def _frames(plan, *times):
    return oracle_features(plan, [_at(plan, t) for t in times])


def _objects(features, f):
    mask = features["object_mask"][f]
    return features["object_labels"][f][mask], features["object_boxes"][f][mask]


def _triplets(features, f):
    return [tuple(int(v) for v in t) for t in features["relation_triplets"][f][features["relation_mask"][f]]]


def _intersect(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@pytest.mark.parametrize("event_type", SYNTHETIC_EVENT_TYPES)
def test_each_event_type_shows_its_evidence_in_its_modality(event_type):
    plan, event = _find(event_type)
    t0, t1 = event["start"], event["end"]
    modality = EVENT_SPECS[event_type].modality
    W, H = plan.width, plan.height
    if event_type == "Fighting":  # pose: two persons punch toward each other (wrist far in front of the shoulder)
        shown = "pose"  # the kind of evidence the check below reads
        features = _frames(plan, (t0 + t1) / 2)
        keypoints = features["pose_keypoints"][0][features["pose_mask"][0]]
        reach = (keypoints[:, [9, 10], 0] - keypoints[:, [5, 6], 0]) * W / (ADULT * H)
        punching = [np.sign(r[np.argmax(np.abs(r))]) for r in reach if np.abs(r).max() > 0.22]
        assert len(punching) >= 2 and {-1.0, 1.0} <= set(punching)
    elif event_type == "Pedestrian":  # pose: a person lies (box wider than tall)
        shown = "pose"  # the kind of evidence the check below reads
        features = _frames(plan, 0.0, t0 + 0.5)
        for f, lying in ((0, False), (1, True)):
            labels, boxes = _objects(features, f)
            widths = (boxes[:, 2] - boxes[:, 0]) * W > (boxes[:, 3] - boxes[:, 1]) * H
            assert bool((widths & (labels == PERSON)).any()) == lying
    elif event_type in ("Theft", "Robbery"):  # relation: who holds the bag / phone changes
        shown = "relation"  # the kind of evidence the check below reads
        item = OBJECT_LABELS["cell phone" if event["object"] == "phone" else "handbag"]
        features = _frames(plan, t0, t0 + 0.7)
        holders = []
        for f in range(2):
            labels, boxes = _objects(features, f)
            holders.append([boxes[s] for s, p, o in _triplets(features, f) if p == 0 and labels[o] == item])
        if event_type == "Theft":
            assert holders[0] == [] and len(holders[1]) == 1
        else:
            assert len(holders[0]) == len(holders[1]) == 1 and not np.allclose(holders[0][0], holders[1][0])
    elif event_type == "Accidents":  # relation: a vehicle suddenly touches another vehicle / a person in its lane
        shown = "relation"  # the kind of evidence the check below reads
        features = _frames(plan, 0.0, t0 + 0.7)
        contacts = []
        for f in range(2):
            labels, boxes = _objects(features, f)
            riders = {s for s, p, o in _triplets(features, f) if p == 1}
            contacts.append(
                [
                    (i, j)
                    for i in range(len(labels))
                    for j in range(len(labels))
                    if i != j
                    and labels[i] in VEHICLES
                    and (labels[j] in VEHICLES or (labels[j] == PERSON and j not in riders))
                    and abs(boxes[i, 3] - boxes[j, 3]) < 0.06
                    and _intersect(boxes[i], boxes[j])
                ]
            )
        assert contacts[0] == [] and contacts[1] != []
    elif event_type == "Animals":  # relation: the dog touches a person
        shown = "relation"  # the kind of evidence the check below reads
        features = _frames(plan, t1 - 0.5)
        labels, boxes = _objects(features, 0)
        dogs = boxes[labels == OBJECT_LABELS["dog"]]
        assert any(_intersect(d, p) for d in dogs for p in boxes[labels == PERSON])
    elif event_type == "Violations":  # object: a vehicle moves left in the right-moving lane
        shown = "object"  # the kind of evidence the check below reads
        features = _frames(plan, t0 + 0.3, t1 - 0.3)
        lane = SCENE_SPECS[event["scene"]].lanes[1]
        centres = []
        for f in range(2):
            labels, boxes = _objects(features, f)
            in_lane = [b for k, b in zip(labels, boxes) if k in VEHICLES and abs(b[3] - min(lane, 1.0)) < 0.02]
            assert len(in_lane) >= 1
            centres.append(max((b[0] + b[2]) / 2 for b in in_lane))
        assert centres[1] < centres[0] - 0.1
    elif event_type == "Vandalism":  # object: the sign / bench falls over (its box turns)
        shown = "object"  # the kind of evidence the check below reads
        features = _frames(plan, t0, t1)
        target = OBJECT_LABELS["bench" if event["scene"] == "Lawn" else "stop sign"]
        shapes = []
        for f in range(2):
            labels, boxes = _objects(features, f)
            (box,) = boxes[labels == target]
            shapes.append((box[2] - box[0]) * W > (box[3] - box[1]) * H)
        assert shapes[0] != shapes[1]
    elif event_type == "Fire":  # scene: the background darkens and reddens; no object box for the fire
        shown = "scene"  # the kind of evidence the check below reads
        features = _frames(plan, 0.0, min(t0 + 1.5, plan.duration - 0.2))
        before, after = (features["background_frames"][f].astype(float) for f in range(2))
        assert np.abs(after - before).mean() > 20
        assert after[..., 2].mean() < before[..., 2].mean() - 15
    elif event_type == "Forbidden":  # scene: flame colours appear on the ground next to the crouching person
        shown = "scene"  # the kind of evidence the check below reads
        features = _frames(plan, 0.0, (t0 + t1) / 2)
        (flame,) = [effect for effect in plan.effects if effect.kind == "flame"]
        x, y = int(flame.x * W), int(flame.y * H)
        colours = np.array([(255, 230, 100), (250, 135, 30), (200, 40, 20)])
        for f, burning in ((0, False), (1, True)):
            window = features["background_frames"][f][max(y - 12, 0) : y + 2, max(x - 8, 0) : x + 8].reshape(-1, 1, 3)
            flame_pixels = (np.abs(window.astype(int) - colours).max(-1) <= 10).any(-1).sum()
            assert (flame_pixels >= 3) == burning
    else:
        raise AssertionError(f"no evidence check for {event_type}")
    assert modality == shown, f"{event_type} claims {modality} evidence, its evidence is {shown}"


# ------------------------------------------------------------------------------------------------ dataset folder


def test_load_dataset_offline_reads_the_rows_and_the_card(built, tmp_path, monkeypatch):
    folder, summary = built
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dataset = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert sorted(dataset) == sorted(split for split, n in summary["splits"].items() if n)
    assert sum(len(split) for split in dataset.values()) == NUM_VIDEOS
    for split, rows in dataset.items():
        assert rows.features == mvae_features(SOURCE_FIELDS)
        assert set(rows["split"]) == {split}
        assert all((folder / "videos" / video).is_file() for video in rows["video"])
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    stats = summary["statistics"]
    assert sum(stats["events_per_type"].values()) == sum(len(r["events"]) for r in _rows(folder))
    assert sum(stats["events_per_modality"].values()) == sum(stats["events_per_type"].values())
    for event_type, count in stats["events_per_type"].items():
        spec = EVENT_SPECS[event_type]
        assert f"| {event_type} | {spec.modality} | {', '.join(spec.scenes)} | {count} |" in card
    assert sorted(stats["events_per_type"]) == sorted(SYNTHETIC_EVENT_TYPES)


def test_cli_writes_the_folder_and_rejects_bad_arguments(tmp_path, capsys):
    assert main(["--output-dir", str(tmp_path / "cli"), "--num-videos", "2", "--size", "64x48",
                                 "--num-workers", "1", "--duration", "4"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 2 and len(list((tmp_path / "cli" / "videos").glob("*.mp4"))) == 2
    assert main(["--output-dir", str(tmp_path / "bad"), "--size", "65x48"]) == 1
    assert "--size" in capsys.readouterr().err
    assert main(["--output-dir", str(tmp_path / "bad"), "--duration", "2"]) == 1
    assert "--duration must be at least 4 s" in capsys.readouterr().err


BUILDERS = {
    "sherlock-build-mvae": ("dataset_scripts.build_mvae", "CUVA annotation files"),
    "sherlock-build-synthetic": ("dataset_scripts.build_synthetic", "Mean duration in seconds"),
    "sherlock-build-pretune": ("dataset_scripts.build_pretune", "HumanML3D root"),
}
HEAVY_MODULES = (
    "torch",
    "datasets",
    "pyarrow",
    "av",
    "processing",
    "modeling_sherlock",
    "transformers.modeling_utils",
)


@pytest.mark.parametrize("script", sorted(BUILDERS))
def test_every_builder_answers_help_without_heavy_imports(script):
    module, help_text = BUILDERS[script]
    installed = Path(sys.executable).parent / script
    command = [str(installed)] if installed.is_file() else [sys.executable, "-m", module]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:") and "--output_dir" in done.stdout and help_text in done.stdout
    assert "--push_to_hub" in done.stdout and "Traceback" not in done.stderr
    # `--help` imports no model / data library: they are imported inside the commands
    probe = (
        f"import sys\nfrom {module} import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().splitlines()[-1] == "[]"


def test_names_of_the_split_builder_stay_importable_from_the_cli_module():
    from dataset_scripts import build_synthetic as cli
    from dataset_scripts import synthetic_build, synthetic_oracle, synthetic_plan, synthetic_world

    origins = {
        synthetic_build: ["build_synthetic"],
        synthetic_oracle: ["OBJECT_LABELS", "oracle_features"],
        synthetic_plan: ["event_type_order", "plan_video", "split_of"],
        synthetic_world: ["EVENT_SPECS", "body_keypoints"],
    }
    for module, names in origins.items():
        for name in names:
            assert getattr(cli, name) is getattr(module, name), name
    assert cli.render_frame is render_frame and cli.SCENE_SPECS is SCENE_SPECS


@pytest.mark.parametrize("script", sorted(BUILDERS))
def test_a_builder_without_the_data_extra_says_so_in_one_line(script, tmp_path):
    """`pip install sherlock-mvae` alone has no `datasets`: the builders name the extra to install, no traceback."""
    module, _ = BUILDERS[script]
    argv = ["--output_dir", str(tmp_path / "out")]
    if script == "sherlock-build-pretune":  # it needs one source: an RSI-CB class folder with one image
        (tmp_path / "rsi" / "forest").mkdir(parents=True)
        (tmp_path / "rsi" / "forest" / "a.jpg").write_bytes(make_jpeg())
        argv += ["--rsi_cb_dir", str(tmp_path / "rsi")]
    probe = (
        "import sys\nsys.modules['datasets'] = None  # as if the `data` extra were not installed\n"
        f"from {module} import main\nsys.exit(main({argv!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and 'pip install "sherlock-mvae[data]"' in lines[0] and "'datasets'" in lines[0], lines


def make_jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_oracle_capacity_truncation_is_a_warning_with_the_counts(monkeypatch, caplog):
    """The oracle drops what exceeds the model's capacities like the extractors do: never silently."""
    import logging

    from dataset_scripts import synthetic_oracle

    plan = next(p for p in (plan_video(SEED, i) for i in range(30)) if len(p.actors) >= 3)
    full = synthetic_oracle.oracle_features(plan, [0])
    objects = int(full["object_mask"].sum())
    assert objects >= 2
    monkeypatch.setattr(synthetic_oracle, "MAX_OBJECTS", 1)
    with caplog.at_level(logging.WARNING):
        truncated = synthetic_oracle.oracle_features(plan, [0])
    assert int(truncated["object_mask"].sum()) == 1
    assert f"`MAX_OBJECTS`=1 exceeded in 1 of 1 frames: found {objects} objects, kept 1" in caplog.text
