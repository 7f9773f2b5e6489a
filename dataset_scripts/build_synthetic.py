"""`sherlock-build-synthetic`: a synthetic, M-VAE-like dataset of procedurally rendered videos with oracle expert
features.

Every video is a short clip (a few seconds, small frames) of a scene with people drawn as stick figures from explicit
COCO-17 keypoints, vehicles drawn as boxes with wheels, and objects (bags, phones, signs, benches, dogs, plants). It
holds 0, 1 or 2 abnormal events whose evidence lies in different modalities, and the same actors do normal things
before and after them, so a model must look at the video (not only at the scene) to answer. The builder writes the
mp4s, the oracle expert features in the processor's feature-cache format (read by the `precomputed` extractor
backend) and one row per video in the M-VAE schema (`mvae_schema.make_row`).

    sherlock-build-synthetic --output-dir data/synthetic --num-videos 200 --seed 0

Event types (10 of the 11 `EVENT_TYPES`; **Water** is left out: no water scene is rendered) and where the evidence
lies:

| type | modality | what is drawn |
|---|---|---|
| Fighting | pose | two people walk up, talk, then punch (arms extended toward each other, alternating) |
| Pedestrian | pose | a walking person falls (rotation to lying), lies, gets up and walks on |
| Theft | relation | a bag lies next to its owner (who looks away); a passer-by picks it up (holding) and runs off |
| Robbery | relation | a person holds a bag / phone; another runs at them, takes it (holding moves), runs off; the victim flails |
| Accidents | relation | two vehicles suddenly touch (rear-end in a lane) or a car hits a crossing pedestrian, smoke puff |
| Animals | relation | a dog runs at a person and bites (dog touching the person's legs); the person flails |
| Violations | object | a vehicle drives the wrong way (facing and moving left in the right-moving lane) |
| Vandalism | object | a person kicks a sign / bench until it falls over (its box changes shape) |
| Fire | scene | a fire grows on a building (flames, smoke, the whole background darkens and reddens) |
| Forbidden | scene | a crouching person burns paper on the ground (small flame and smoke) |

Normal look-alikes occur in every video (with or without events): people walking, jogging, standing on the phone,
talking in pairs (gesturing), crouching to tie a shoe, carrying bags, walking a dog, cycling; traffic in the right
direction in its lane; signs, benches and plants that nobody touches. The event spans (start / end in seconds, one
decimal, within the video) cover the abnormal act: e.g. the punches, the fall until standing again, the pick-up until
the thief leaves the frame, the approach + impact + smoke of an accident, the whole fire from ignition to the end of
the video (the fire never goes out, so Fire is always a video's last event).

Scenes (canonical `SCENES` entries, each a distinct colour / texture layout so the background expert has evidence):
Street (facades, sidewalk, two-lane road), Road (tree line, verge, wide road), Shop (wall, shelves with products,
tiled floor), Lawn (trees, mown grass, path), Factory (pipes, machines, hazard stripe), Residence (house, yard,
driveway), School (brick building, playground court). Every scene allows at least 4 event types. Entities (subjects /
objects) are `ENTITIES` entries consistent with the drawing: `people`, `child` (a smaller figure, in School / Lawn),
`pedestrian` (on Street / Road), `thief`, `robber`, `dog`, `car`, `truck`, `bus`, `motorcycle`, `bag`, `phone`,
`facility` (sign, bench), `building`, `house`, `shop`, `paper`, `fire`, `none`.

Randomness: the whole video (scene, events, actors, colours, timing, duration) comes from
`numpy.random.default_rng([seed, index])`, so one video can be regenerated alone (`plan_video(seed, index, ...)`).
The first event type of video `index` is `order[index % 10]` for a seed-dependent permutation `order` of the 10 types
(types are balanced over consecutive indices); the number of events is 0 / 1 / 2 with probabilities
0.25 / 0.45 / 0.30; the second event type is drawn among those compatible with the scene. The split is "test" when
`(index * 0.618... + u) mod 1 < test_fraction` (`u` from the seed): a low-discrepancy, index-local choice.

Oracle features (what perfect extractors would output), written with `FeatureCache(<output>/features).save(
video_content_hash(mp4), timestamps, {"oracle": "synthetic-v1"}, arrays)` for the frames that the processor samples
with `num_frames=--num-frames` (read back from the written mp4 with `load_video(..., decode=False)`; the renderer's
state at those frame indices):

- `pose_keypoints (F, 8, 17, 3)` float32: x, y = pixel position / frame size, clipped to [0, 1], and score 1 for
  a keypoint inside the frame, 0 outside; `pose_mask (F, 8)`: one row per person drawn in the frame (at least one keypoint inside), in cast order;
- `object_boxes (F, 16, 4)` (normalised x1, y1, x2, y2, tight around what is drawn, clipped), `object_labels` (the
  label map below), `object_mask`: persons first (pose row p = object p), then vehicles, then objects;
- `relation_triplets (F, 32, 3)` (subject index, `RELATION_PREDICATES` id, object index), `relation_mask`: the true
  scene graph: `holding` (person holds bag / phone) and `riding` (person on bicycle / motorcycle) from the renderer's
  state first, then the geometric predicates of `relations_sherlock.box_relations` on the true boxes for the other
  pairs (without its own holding / riding guesses), at most 32;
- `background_frames (F, H, W, 3)` uint8: the rendered frames with exactly the drawn foreground (persons, vehicles,
  objects) set to `extractors_sherlock.CLIP_MEAN_FILL`. Fire, smoke and burning paper are background (no detector
  class covers them), so their evidence stays in the background frames. The background never holds the fill colour
  itself (such pixels are nudged by one), so the fill marks exactly the foreground.

Label map (`OBJECT_LABELS`): COCO-80 contiguous ids as RT-DETR's `id2label` numbers them (all < 80): person 0,
bicycle 1, car 2, motorcycle 3, bus 5, truck 7, stop sign 11, bench 13, dog 16, handbag 26, potted plant 58,
cell phone 67.

Output folder:

    videos/<video_id>.mp4                        H.264 (libx264 ultrafast, one thread: the same bytes for the same
                                                 seed with the same FFmpeg / x264 build) or mpeg4
    features/                                    the feature cache (safetensors + JSON manifests)
    default/{train,test}-0000i-of-0000n.parquet  M-VAE rows (`video` relative to videos/, real `duration`)
    README.md                                    the dataset card (licence cc-by-4.0, statistics)

Cost: the default build (200 videos of about 5 s at 8 fps, 128x96) takes about 13 s on 2 cores (`--num-workers`:
one process per core by default) and writes about 9 MB of video and 64 MB of features (mostly the uncompressed
background frames).

Rows follow `mvae_schema.make_row` with `source` fields `generator`, `seed`, `index`, `description` (what happens, in
words), `scene` (also for videos without event) and `evidence` (the modality of each event).

Code: this module holds the arguments and the console script (it imports nothing heavy, so `--help` answers at once);
`synthetic_world` defines the event specs, the skeleton, the actors and the `Plan`, `synthetic_scenes` the scene
layouts and backgrounds, `synthetic_events` the event templates, `synthetic_plan` the normal activity, the schedule and
`plan_video`, `synthetic_render` the frames, `synthetic_oracle` the oracle features, `synthetic_build` the build and the
card. The library names this module used to hold (`plan_video`, `render_frame`, `oracle_features`, ...) stay
importable from here; they are imported on first use.
"""

import sys
from dataclasses import dataclass, field

from dataset_scripts.dataset_io import HubArguments, json_report, lazy_exports, run_builder


@dataclass
class SyntheticArguments(HubArguments):
    """Arguments of `sherlock-build-synthetic`."""

    output_dir: str = field(metadata={"help": "Folder to write the dataset into (videos/, features/, parquet, card)."})
    num_videos: int = field(default=200, metadata={"help": "Number of videos."})
    seed: int = field(default=0, metadata={"help": "Global seed; video i is generated from (seed, i) alone."})
    num_frames: int = field(
        default=8, metadata={"help": "Frames the processor samples (uniformly); the oracle features are for them."}
    )
    fps: float = field(default=8.0, metadata={"help": "Frame rate of the videos."})
    size: str = field(default="128x96", metadata={"help": "WIDTHxHEIGHT of the frames (both even)."})
    duration: float = field(
        default=5.0,
        metadata={"help": "Mean duration in seconds, at least 4 (each video: 0.8 to 1.2 times it, at least 4 s)."},
    )
    test_fraction: float = field(default=0.2, metadata={"help": "Fraction of the videos in the test split."})
    codec: str = field(default="libx264", metadata={"help": "libx264 (ultrafast, bit-exact) or mpeg4."})
    num_workers: int = field(default=0, metadata={"help": "Worker processes (0: one per CPU core, 1: in process)."})


def main(argv: list[str] | None = None) -> int:
    """Console script `sherlock-build-synthetic`."""
    return run_builder(
        "sherlock-build-synthetic",
        SyntheticArguments,
        "dataset_scripts.synthetic_build:build_synthetic",
        json_report,
        argv,
        description="Build a synthetic M-VAE-like dataset with oracle expert features.",
    )


# The library names this module held before it was split (PEP 562): imported on first use, not at `--help`.
__getattr__ = lazy_exports(
    __name__,
    {
        "dataset_scripts.synthetic_build": ("build_synthetic",),
        "dataset_scripts.synthetic_oracle": ("OBJECT_LABELS", "oracle_features"),
        "dataset_scripts.synthetic_plan": ("event_type_order", "plan_video", "split_of"),
        "dataset_scripts.synthetic_render": ("render_frame",),
        "dataset_scripts.synthetic_scenes": ("SCENE_SPECS",),
        "dataset_scripts.synthetic_world": ("EVENT_SPECS", "body_keypoints"),
    },
)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SyntheticArguments", "main"]
