"""Build the M-VAE dataset from the CUVA annotation files: `sherlock-build-mvae`.

    sherlock-build-mvae --output-dir m-vae
    sherlock-build-mvae --output-dir m-vae --video-root CUVA/videos --with-features --processor PATH
    sherlock-build-mvae --output-dir m-vae --llm-extractor PATH_OR_ID --push-to-hub org/m-vae
    sherlock-build-mvae --cuva-dir OTHER_CUVA_COPY --output-dir m-vae

Inputs (in `--cuva-dir`; by default the copy shipped with this package in `dataset_scripts/data/cuva/`, licence
CC BY-NC-SA 4.0, see its LICENSE and SOURCE.md): `annotations.xlsx` (round-1 sheet `一轮标注` = the data; round-2 sheet
`二轮标注` only for the agreement report), `gt_Descriptionv1.json` / `gt_Causev1.json` / `gt_Resultv1.json` (kept in
each row's `source` for reference), `Category.txt` (the valid `X1` codes), `frame_size.json` (kept in `source`) and
`splits.json` (the train / test split of CUVA).

Output (`--output-dir`, see `dataset_io`): `default/{train,test}-*.parquet` (one row per video, `mvae_schema`),
optionally `features/{train,test}-*.parquet` (`--with-features`), `rejects.jsonl` and `README.md` (the dataset card:
YAML `configs:` + `dataset_info` features, so `load_dataset(folder)` works without a loading script, licence
CC BY-NC-SA 4.0 with attribution to CUVA, how it was built, the statistics). The same inputs give the same bytes.

Design decisions (also written in the card):

- **Input rows**: the data rows of the round-1 sheet, i.e. every row after the header and the 2 `example` rows (the
  example rows are counted separately); fully blank rows are not input rows (counted too). `--limit N` keeps the
  first N input rows (sheet order).
- **Video ids**: `video_id` 1 -> "00001" (file "00001.mp4"). A sub-clip id such as `19-1` is rejected (`sub_clip_id`:
  CUVA publishes no such file and its events are not merged into video 19); a repeated id rejects the later row
  (`duplicate_video_id`); a video absent from `splits.json` is rejected (`not_in_split`).
- **Types** (`X1`, `[class-subclass,score]` one or more; a trailing comma inside the bracket is tolerated): an empty
  `[,]` is `missing_type`, free text (e.g. 枪战 gunfight, 逮捕 arrest, 视频损坏 broken video) is `non_code_type`, a code
  absent from Category.txt is `unknown_type_code`. Several types: when their number equals the number of segments,
  the i-th type goes with the i-th segment; otherwise the highest-score type (the first listed on ties) goes with
  every segment. The event type is the class (`CUVA_CLASS_TO_EVENT_TYPE`).
- **Moments** (`X3 moment`, `[MMSS,MMSS]` per segment): each time must be exactly four digits (`0114` = 74 s); else
  `malformed_moment` (`[,]`, `[0005,]`, `000`, `00043`, `20` are not guessed); seconds >= 60 is
  `seconds_out_of_range`; end <= start is `end_not_after_start`; with `--video-root`, a segment that starts at or
  after the video's end, or ends more than `--duration-tolerance` (1 s, the MMSS resolution) after it, is
  `past_video_end`; an end within the tolerance is clipped to the duration (counted in the card).
- **Segment vs row rejects**: a bad segment of a row that keeps at least one good segment is a `level: "segment"`
  reject and the row stays with its good segments; a row that is not in the dataset has exactly one `level: "row"`
  reject (its reason is the first failed check in the order id, duplicate, split, type, moments, video; for a row
  whose segments all fail, the first segment's reason, every segment's problem in `detail`). So
  `len(dataset) + #row rejects = #input rows`, and for every kept row `#events + #segment rejects = #segments`.
  Each reject: `{"level", "row" (sheet row number, header = 1), "video_id", "reason" (stable code), "detail"}`, plus
  `segment` (1-based) and `moment` for segment rejects.
- **Descriptions** (`X3 description`, `[text][text]...`; an unclosed last bracket is tolerated): the i-th bracket
  describes the i-th segment when the counts match; otherwise every segment gets the whole description (counted).
- **Subject / object** (deterministic, offline: `mvae_frames.extract_subject_object`): each event type has a frame
  (the words of its act, the entity kinds that can do it and be acted upon, a default); the segment's description,
  then `X2 reason`, then `X2 result` are read sentence by sentence with the shared entity vocabulary. The subject is
  the agent of the first act ("was hit by Y": Y), else the first mention of a subject kind; the object is what the act
  is done to (the passive's patient, else the first mention of an object kind after the act word; the subject named
  in the plural is its own kind's object, "two cars collided"), else what the sub-class names (9-2 Forest fire:
  tree), else the frame's default (theft / robbery "property", fighting "people", the others "none"); a fire's
  subject is "fire" ("smoke" when the texts tell only of smoke), a subject found nowhere "people". Every source and
  every default value is counted in the card.
- **Scene**: from the sub-class where it names one (`CUVA_SUBCLASS_TO_SCENE`: Street, School, Shop, Bank, Forest,
  Factory, Residential -> Residence, Boat, Wild), else the first place named in the segment's description, then the
  reason, then the result (`find_scenes`; "in public places", "the other car" name no place), else "Other".
- **Label quality**: the card states the agreement of subject / object / scene with two hand-labelled sets of train
  events (`mvae_devset`: the development set the rules were written against, and a held-out check set).
- **LLM extraction** (`--llm-extractor`, the paper's step): any transformers causal LM is asked for subject / object /
  scene of each event (greedy decoding); a field is taken only when its normaliser maps it into the vocabulary (and a
  subject is not "none"), otherwise the deterministic value stays. The sub-class scene still wins.
- **Round 2** is never data: the card reports its agreement with round 1 (type class / sub-class agreement, temporal
  IoU of the union of the moments).
- **Features** (`--with-features`, needs `--video-root` and `--processor`): the processor's extractors run on the
  processor's frame sampling of each video, through its feature cache (`--feature-cache-dir`, default the processor's
  `feature_cache_dir` else `~/.cache/sherlock/features`): a second run finds every done video there and skips it (resumable).
  The `features` config has one row per video with its id, split, content hash, duration, frame times / indices and
  the seven expert arrays as nested lists (the background frames stay in the cache: they are video pixels).

Code: this module holds the arguments and the console script (it imports nothing heavy, so `--help` answers at once);
`mvae_cuva` reads and parses the CUVA files, `mvae_elements` (with `mvae_frames`) extracts subject / object / scene, `mvae_rows` makes the
rows and rejects, `mvae_features` the `features` config, `mvae_statistics` and `mvae_card` the statistics and the
card, `mvae_build` runs the build. The library names this module used to hold (`build_mvae`, `BuildResult`,
`build_rows`, `parse_moments`, ...) stay importable from here; they are imported on first use.
"""

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dataset_scripts.dataset_io import DEFAULT_ROWS_PER_SHARD, HubArguments, lazy_exports, run_builder


SHIPPED_CUVA_DIR = Path(__file__).resolve().parent / "data" / "cuva"
"""The CUVA annotation files shipped with the package (package data; CC BY-NC-SA 4.0): the default `--cuva-dir`."""


@dataclass
class BuildMvaeArguments(HubArguments):
    """Arguments of `sherlock-build-mvae` (dashes or underscores: `--cuva-dir` = `--cuva_dir`)."""

    output_dir: str = field(metadata={"help": "Folder to write the dataset to (parquet shards, README.md, rejects)."})
    cuva_dir: str = field(
        default=str(SHIPPED_CUVA_DIR),
        metadata={
            "help": "Folder with the CUVA annotation files (annotations.xlsx, gt_*.json, ...); default: the copy "
            "shipped with this package (CC BY-NC-SA 4.0)."
        },
    )
    video_root: str | None = field(
        default=None,
        metadata={"help": "Folder of the CUVA videos (00001.mp4, ...): read durations, drop events past the end."},
    )
    duration_tolerance: float = field(
        default=1.0,
        metadata={"help": "Seconds an event may end after the video's end (clipped); more is `past_video_end`."},
    )
    with_features: bool = field(
        default=False,
        metadata={
            "help": "Precompute the expert features into a `features` config (needs --video-root, --processor)."
        },
    )
    processor: str | None = field(
        default=None,
        metadata={"help": "A SherlockProcessor folder (or Hub id) whose sampling and extractors make the features."},
    )
    feature_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Feature cache (resume point); default the processor's feature_cache_dir, else ~/.cache/sherlock."
        },
    )
    llm_extractor: str | None = field(
        default=None,
        metadata={"help": "A transformers causal LM (path or Hub id) that extracts subject / object / scene."},
    )
    llm_max_new_tokens: int = field(default=32, metadata={"help": "Tokens the LLM extractor may generate per event."})
    limit: int | None = field(default=None, metadata={"help": "Use only the first N input rows (tests, previews)."})
    rows_per_shard: int = field(default=DEFAULT_ROWS_PER_SHARD, metadata={"help": "Rows per parquet shard."})


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `sherlock-build-mvae`."""
    return run_builder(
        "sherlock-build-mvae",
        BuildMvaeArguments,
        "dataset_scripts.mvae_build:build_mvae",
        "dataset_scripts.mvae_build:summary_text",
        argv,
        description="Build the M-VAE dataset from the CUVA annotations.",
    )


# The library names this module held before it was split (PEP 562): imported on first use, not at `--help`.
__getattr__ = lazy_exports(
    __name__,
    {
        "dataset_scripts.mvae_build": ("BuildResult", "build_mvae"),
        "dataset_scripts.mvae_cuva": ("parse_moments", "parse_type_codes", "parse_video_id"),
        "dataset_scripts.mvae_elements": (
            "LlmElementExtractor",
            "extract_scene",
            "extract_subject_object",
            "parse_llm_reply",
        ),
        "dataset_scripts.mvae_rows": ("build_rows",),
        "dataset_scripts.mvae_statistics": ("compute_statistics", "round2_agreement", "temporal_iou"),
    },
)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SHIPPED_CUVA_DIR", "BuildMvaeArguments", "main"]
