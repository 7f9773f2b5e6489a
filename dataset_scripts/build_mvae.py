"""Build the M-VAE dataset (DESIGN §4) from the CUVA annotation files: `sherlock-build-mvae`.

    sherlock-build-mvae --cuva-dir ../shared/data/cuva --output-dir m-vae
    sherlock-build-mvae --cuva-dir CUVA --output-dir m-vae --video-root CUVA/videos --with-features --processor PATH
    sherlock-build-mvae --cuva-dir CUVA --output-dir m-vae --llm-extractor PATH_OR_ID --push-to-hub org/m-vae

Inputs (in `--cuva-dir`, see its SOURCE.md): `annotations.xlsx` (round-1 sheet `一轮标注` = the data; round-2 sheet
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
- **Subject / object** (deterministic lexicon extraction, `extract_subject_object`): the entity mentions of the text
  are found with the shared entity vocabulary (longest synonym first, whole words, plurals); the subject is the first
  mention of an agent (a person, vehicle, animal, fire, smoke, water or firework) that is not a place after "in / on /
  at ..."; "X was <verb> by Y" makes Y the subject and X the object; the object is the next different entity after
  the subject (non-locative first), else an earlier one. Texts in order: the segment's description, then the reason
  (`X2 reason`); a subject found nowhere is "people" (CUVA's anomalies are mostly human-caused), an object found
  nowhere is "none". Every fallback is counted in the card.
- **Scene**: from the sub-class where it names one (`CUVA_SUBCLASS_TO_SCENE`: Street, School, Shop, Bank, Forest,
  Factory, Residential -> Residence, Boat, Wild), else `normalize_scene` of the segment's description, then of the
  reason, else "Other".
- **LLM extraction** (`--llm-extractor`, the paper's step): any transformers causal LM is asked for subject / object /
  scene of each event (greedy decoding); a field is taken only when its normaliser maps it into the vocabulary (and a
  subject is not "none"), otherwise the lexicon value stays. The sub-class scene still wins.
- **Round 2** is never data: the card reports its agreement with round 1 (type class / sub-class agreement, temporal
  IoU of the union of the moments).
- **Features** (`--with-features`, needs `--video-root` and `--processor`): the processor's extractors run on the
  processor's frame sampling of each video, through its feature cache (`--feature-cache-dir`, default the processor's
  `cache_dir` else `~/.cache/sherlock/features`): a second run finds every done video there and skips it (resumable).
  The `features` config has one row per video with its id, split, content hash, duration, frame times / indices and
  the seven expert arrays as nested lists (the background frames stay in the cache: they are video pixels).
"""

import hashlib
import json
import logging
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import yaml
from tqdm.auto import tqdm

from dataset_scripts.dataset_io import (
    DEFAULT_ROWS_PER_SHARD,
    ConfigFiles,
    card_header,
    markdown_table,
    push_dataset_folder,
    run_builder,
    write_card,
    write_rejects,
    write_split,
)
from dataset_scripts.mvae_schema import SOURCE_FIELDS, make_row, mvae_features
from processing import DEFAULT_INSTRUCTION, VideoDecodeError, load_video
from processing.vocabulary_sherlock import (
    CUVA_CLASS_NAMES,
    CUVA_CLASS_TO_EVENT_TYPE,
    CUVA_SUBCLASS_TO_SCENE,
    ENTITIES,
    ENTITY_SYNONYMS,
    EVENT_TYPES,
    SCENES,
    normalize_entity,
    normalize_scene,
)


logger = logging.getLogger(__name__)

ROUND1_SHEET = "一轮标注"
ROUND2_SHEET = "二轮标注"
HEADER_ROWS = 1
EXAMPLE_ROWS = 2
SPLITS = ("train", "test")
LICENSE = "cc-by-nc-sa-4.0"
PRETTY_NAME = "M-VAE (Multi-scene Video Abnormal Event extraction and localization)"
CUVA_FILES = (
    "annotations.xlsx",
    "Category.txt",
    "gt_Descriptionv1.json",
    "gt_Causev1.json",
    "gt_Resultv1.json",
    "frame_size.json",
    "splits.json",
)
MVAE_SOURCE_FIELDS = (*SOURCE_FIELDS, "gt_cause", "gt_result", "frame_size", "sheet_row")
"""`source` of an M-VAE row: the schema's defaults, the CUVA cause / result answers, "WxH" and the sheet row."""
PAPER_EVENTS = {"train": 1348, "test": 332}

REJECT_REASONS = {
    "missing_video_id": "the row has no video id",
    "malformed_video_id": "the video id is neither a number nor a sub-clip id",
    "sub_clip_id": "a sub-clip id such as 19-1 (no such video file in CUVA; its events are not merged)",
    "duplicate_video_id": "the video id already appeared in an earlier row (the later row is rejected)",
    "not_in_split": "the video is in neither split of splits.json",
    "missing_type": "X1 is empty or `[,]`",
    "non_code_type": "X1 is free text instead of `[class-subclass,score]` codes",
    "unknown_type_code": "an X1 code that is not in Category.txt",
    "missing_moment": "X3 moment is empty",
    "malformed_moment": "a segment that is not `[MMSS,MMSS]` with four-digit times",
    "seconds_out_of_range": "a time whose seconds part is >= 60",
    "end_not_after_start": "a segment whose end is not after its start",
    "past_video_end": "a segment that runs past the video's duration (--video-root)",
    "video_missing": "no video file under --video-root",
    "video_unreadable": "the video file cannot be read (--video-root)",
    "feature_extraction_failed": "the expert features of a kept video could not be computed (--with-features)",
}
"""Every reject reason code and its meaning (the card's reject table)."""

NON_CODE_GLOSSES = {
    "枪战": "gunfight",
    "枪击": "shooting",
    "逮捕": "arrest",
    "逛街": "shopping stroll",
    "游泳": "swimming",
    "游泳视频": "swimming video",
    "非法闯入": "trespassing",
    "交通宣导": "traffic-safety promotion",
    "宣传交通": "traffic-safety promotion",
    "发现公共设施损毁": "damaged public facility found",
    "公共设施损毁未修理": "damaged public facility not repaired",
    "宠物训练": "pet training",
    "视频损坏": "broken video",
    "校园霸凌": "school bullying",
    "乱停车": "illegal parking",
    "没有视频": "no video",
    "没视频": "no video",
    "行车记录": "dash-cam recording",
    "烟花店火灾": "fireworks-shop fire",
    "在街上发放毒品": "handing out drugs in the street",
    "电影介绍": "film introduction",
    "故意杀人": "murder",
    "记录破坏": "recorded destruction",
    "公路上画画": "painting on the road",
    "是配音加图片的视频": "pictures with voice-over",
    "图像加配音": "pictures with voice-over",
    "图片配语音解说": "pictures with voice-over",
    "图片加配音": "pictures with voice-over",
    "图片配音": "pictures with voice-over",
    "单纯的拍摄视频": "plain footage (no anomaly)",
    "单纯拍摄视频": "plain footage (no anomaly)",
    "自然灾害": "natural disaster",
}
"""English glosses of the free-text X1 values of CUVA's sheet (for reject details)."""

AGENT_ENTITIES = frozenset(
    (
        "people", "man", "woman", "child", "police", "thief", "robber", "crowd", "driver", "pedestrian", "cyclist",
        "worker", "car", "truck", "bus", "motorcycle", "bicycle", "vehicle", "train", "boat", "dog", "cat", "animal",
        "wild animal", "fire", "smoke", "water", "firework",
    )
)  # fmt: skip
"""Entities that can act (be a subject); the others (places, objects, property, "none") are only objects."""
DEFAULT_SUBJECT = "people"
DEFAULT_OBJECT = "none"
DEFAULT_SCENE = "Other"
BACKGROUND_ENTITIES = frozenset(("road",))
"""Entities that are mostly where an event happens: objects only when the texts name nothing else."""
LOCATIVE_PREPOSITIONS = frozenset(("in", "on", "at", "near", "inside", "outside", "along", "beside", "across"))
PASSIVE_AUXILIARIES = frozenset(("was", "were", "is", "are", "be", "been", "being", "got", "gets", "get"))
_DETERMINERS = frozenset(
    ("a", "an", "the", "some", "his", "her", "their", "its", "this", "that", "these", "those", "one", "two", "three")
)
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_NON_WORD = re.compile(r"[\W_]+")
_TYPE_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_TYPE_CODE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*,\s*(\d+(?:\.\d+)?)\s*,?\s*$")
_MOMENT_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_DESCRIPTION_BRACKET = re.compile(r"\[([^\[\]]*)(?:\]|$)")
_SUB_CLIP = re.compile(r"^\s*\d+\s*-\s*\d+\s*$")
_MMSS = re.compile(r"^\d{4}$")

FEATURE_ARRAYS = {
    "pose_keypoints": (4, "float32"),
    "pose_mask": (2, "bool"),
    "object_boxes": (3, "float32"),
    "object_labels": (2, "int64"),
    "object_mask": (2, "bool"),
    "relation_triplets": (3, "int64"),
    "relation_mask": (2, "bool"),
}
"""The expert arrays of the `features` config: name -> (rank, dtype) (`EXPERT_ARRAY_NAMES` of the processor)."""


# ---------------------------------------------------------------------------------------------------------- arguments


@dataclass
class BuildMvaeArguments:
    """Arguments of `sherlock-build-mvae` (dashes or underscores: `--cuva-dir` = `--cuva_dir`)."""

    cuva_dir: str = field(
        metadata={"help": "Folder with the CUVA annotation files (annotations.xlsx, gt_*.json, ...)."}
    )
    output_dir: str = field(metadata={"help": "Folder to write the dataset to (parquet shards, README.md, rejects)."})
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
        metadata={"help": "Feature cache (resume point); default the processor's cache_dir, else ~/.cache/sherlock."},
    )
    llm_extractor: str | None = field(
        default=None,
        metadata={"help": "A transformers causal LM (path or Hub id) that extracts subject / object / scene."},
    )
    llm_max_new_tokens: int = field(default=32, metadata={"help": "Tokens the LLM extractor may generate per event."})
    limit: int | None = field(default=None, metadata={"help": "Use only the first N input rows (tests, previews)."})
    rows_per_shard: int = field(default=DEFAULT_ROWS_PER_SHARD, metadata={"help": "Rows per parquet shard."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Upload the folder to this dataset repo id."})
    hub_endpoint: str | None = field(default=None, metadata={"help": "Hub endpoint (default: huggingface_hub's)."})
    hub_token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})


# ------------------------------------------------------------------------------------------------------------ reading


@dataclass
class CuvaRow:
    """One data row of an annotation sheet (raw cell values, stripped strings or None)."""

    sheet_row: int
    video_id: object
    type_codes: str | None
    reason: str | None
    result: str | None
    moment: str | None
    description: str | None
    key_sentences: str | None
    annotator: str | None = None
    notes: str | None = None


@dataclass
class SheetContent:
    """The data rows of one sheet, and what was not a data row."""

    rows: list[CuvaRow]
    example_rows: int
    blank_rows: int


def _cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def read_annotation_sheet(path: str | os.PathLike, sheet: str) -> SheetContent:
    """Read a CUVA annotation sheet: skip the header, count (and skip) the `example` rows and the blank rows."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        values = list(workbook[sheet].iter_rows(values_only=True))
    finally:
        workbook.close()
    rows, examples, blanks = [], 0, 0
    for number, cells in enumerate(values[HEADER_ROWS:], start=HEADER_ROWS + 1):
        cells = list(cells) + [None] * (9 - len(cells))
        if all(_cell_text(cell) is None for cell in cells):
            blanks += 1
            continue
        if isinstance(cells[0], str) and cells[0].strip().lower() == "example":
            examples += 1
            continue
        video_id = cells[0].strip() if isinstance(cells[0], str) else cells[0]
        rows.append(CuvaRow(number, video_id, *(_cell_text(cell) for cell in cells[1:9])))
    return SheetContent(rows, examples, blanks)


def read_categories(path: str | os.PathLike) -> dict[str, str]:
    """Category.txt -> {"1": "Fighting", "1-1": "Street", ...} (classes and sub-classes)."""
    categories = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*(\d+)-([A-Za-z].*)$", line)
        if match:
            categories[match.group(1)] = match.group(2).strip()
            continue
        match = re.match(r"^\s*(\d+-\d+)\s+(.*)$", line)
        if match:
            categories[match.group(1)] = match.group(2).strip()
    return categories


def read_gt_answers(path: str | os.PathLike) -> dict[str, str]:
    """A `gt_*.json` file -> {"00001.mp4": answer}."""
    return {record["video_id"]: record["answer"] for record in json.loads(Path(path).read_text(encoding="utf-8"))}


def read_splits(path: str | os.PathLike) -> dict[str, str]:
    """`splits.json` -> {"00001.mp4": "train", ...}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {video: split for split in SPLITS for video in data.get(split, [])}


# ------------------------------------------------------------------------------------------------------------ parsing


class RowProblem(ValueError):
    """A reason (stable code) and a human detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def parse_video_id(value) -> str:
    """A round-1 `video_id` cell -> "00001"; raises `RowProblem` (missing / sub-clip / malformed)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowProblem("missing_video_id", "empty video_id cell")
    if isinstance(value, bool):
        raise RowProblem("malformed_video_id", f"video_id {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if value < 1:
            raise RowProblem("malformed_video_id", f"video_id {value} is not a positive number")
        return f"{value:05d}"
    text = str(value).strip()
    if text.isdigit() and int(text) >= 1:
        return f"{int(text):05d}"
    if _SUB_CLIP.match(text):
        parent = int(text.split("-")[0])
        raise RowProblem(
            "sub_clip_id",
            f"sub-clip {text} of video {parent:05d}: CUVA has no file for it and its events are not merged into "
            f"{parent:05d}.mp4",
        )
    raise RowProblem("malformed_video_id", f"video_id {text!r}")


def _gloss(text: str) -> str:
    for word, gloss in sorted(NON_CODE_GLOSSES.items(), key=lambda item: -len(item[0])):
        if text.startswith(word):
            return gloss
    return ""


def parse_type_codes(text: str | None, categories: dict[str, str] | None = None) -> list[tuple[str, float]]:
    """`X1` -> [(code, score), ...] in the written order, e.g. "[7-1,5][5-2,3]" -> [("7-1", 5.0), ("5-2", 3.0)].

    Raises `RowProblem`: `missing_type` (empty, `[,]`), `non_code_type` (free text), `unknown_type_code` (a code not in
    `categories` when given, or a class outside 1..11).
    """
    if text is None or not text.strip() or re.fullmatch(r"(\[\s*,?\s*\]\s*)+", text.strip()):
        raise RowProblem("missing_type", f"X1 {text!r}")
    stripped = text.strip()
    brackets = _TYPE_BRACKET.findall(stripped)
    leftover = _TYPE_BRACKET.sub("", stripped).strip()
    if not brackets or leftover:
        gloss = _gloss(stripped)
        raise RowProblem("non_code_type", f"X1 {stripped!r}" + (f" ({gloss})" if gloss else ""))
    codes = []
    for bracket in brackets:
        match = _TYPE_CODE.match(bracket)
        if not match:
            raise RowProblem("non_code_type", f"X1 bracket [{bracket}] is not [class-subclass,score]")
        code = f"{int(match.group(1))}-{int(match.group(2))}"
        known = categories is None or code in categories
        if int(match.group(1)) not in CUVA_CLASS_TO_EVENT_TYPE or not known:
            raise RowProblem("unknown_type_code", f"X1 code {code} is not in Category.txt")
        codes.append((code, float(match.group(3))))
    return codes


def pair_types_with_segments(codes: Sequence[tuple[str, float]], num_segments: int) -> tuple[list[str], str]:
    """The type code of each segment and the pairing mode ("single", "in_order" or "highest_score").

    One code: it goes with every segment. Several codes and as many segments: the i-th with the i-th. Otherwise the
    highest-score code (the first listed on ties) goes with every segment.
    """
    if len(codes) == 1:
        return [codes[0][0]] * num_segments, "single"
    if len(codes) == num_segments:
        return [code for code, _ in codes], "in_order"
    best = max(range(len(codes)), key=lambda i: (codes[i][1], -i))
    return [codes[best][0]] * num_segments, "highest_score"


def mmss_to_seconds(token: str) -> float:
    """MMSS -> seconds: "0114" -> 74.0. Raises `RowProblem` (`malformed_moment`, `seconds_out_of_range`)."""
    token = token.strip()
    if not _MMSS.match(token):
        raise RowProblem("malformed_moment", f"time {token!r} is not four digits MMSS")
    minutes, seconds = int(token[:2]), int(token[2:])
    if seconds >= 60:
        raise RowProblem("seconds_out_of_range", f"time {token} has {seconds} seconds")
    return float(minutes * 60 + seconds)


@dataclass
class Segment:
    """One `[MMSS,MMSS]` bracket: its text, times in seconds or the problem."""

    index: int  # 1-based
    text: str
    start: float | None = None
    end: float | None = None
    problem: RowProblem | None = None


def parse_moments(text: str | None) -> list[Segment]:
    """`X3 moment` -> one `Segment` per bracket (a bad one carries its problem). Raises `RowProblem` when there is
    no bracket at all (`missing_moment` for an empty cell, `malformed_moment` for other text)."""
    if text is None or not text.strip():
        raise RowProblem("missing_moment", "empty X3 moment")
    stripped = text.strip()
    brackets = _MOMENT_BRACKET.findall(stripped)
    leftover = _MOMENT_BRACKET.sub("", stripped).strip()
    if not brackets:
        raise RowProblem("malformed_moment", f"X3 moment {stripped!r} has no [MMSS,MMSS] bracket")
    segments = []
    for index, bracket in enumerate(brackets, start=1):
        segment = Segment(index, f"[{bracket}]")
        parts = bracket.split(",")
        try:
            if len(parts) != 2:
                raise RowProblem("malformed_moment", f"segment [{bracket}] does not have two times")
            segment.start, segment.end = mmss_to_seconds(parts[0]), mmss_to_seconds(parts[1])
            if segment.end <= segment.start:
                raise RowProblem(
                    "end_not_after_start",
                    f"segment [{bracket}] ends at {segment.end:g} s, not after {segment.start:g} s",
                )
        except RowProblem as problem:
            segment.start = segment.end = None
            segment.problem = RowProblem(problem.reason, f"segment {index} {segment.text}: {problem.detail}")
        segments.append(segment)
    if leftover:
        logger.debug("ignored text %r around the moment brackets of %r", leftover, stripped)
    return segments


def parse_descriptions(text: str | None) -> list[str]:
    """`X3 description` -> the bracket texts (stripped; an unclosed last bracket counts); no bracket -> [whole text]."""
    if text is None or not text.strip():
        return []
    parts = [part.strip() for part in _DESCRIPTION_BRACKET.findall(text)]
    parts = [part for part in parts if part]
    return parts or [text.strip()]


# ------------------------------------------------------------------------------------------------ lexicon extraction


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _POSSESSIVE.sub("", text).replace("&", " and ")
    return _NON_WORD.sub(" ", text).strip()


def _plural_candidates(key: str) -> list[str]:
    *head, last = key.split(" ")
    forms = [last + "s", last + "es"]
    if last.endswith("y"):
        forms.append(last[:-1] + "ies")
    if last.endswith("f"):
        forms.append(last[:-1] + "ves")
    if last.endswith("man"):
        forms.append(last[:-3] + "men")
    if last.endswith("child"):
        forms.append(last + "ren")
    return [" ".join((*head, form)) for form in forms]


class EntityLexicon:
    """Finds entity mentions in free text, in order, with the shared vocabulary.

    The exact-match table holds every synonym of `ENTITY_SYNONYMS` mapped to the canonical entity the vocabulary's
    own `normalize_entity` gives it, plus the plural forms that `normalize_entity` maps to the same canonical. A text
    is scanned word by word; at each position the longest synonym that starts there is a mention.
    """

    def __init__(self):
        table = {}
        for canonical in ENTITIES:
            for synonym in (canonical, *ENTITY_SYNONYMS[canonical]):
                key = _clean(synonym)
                mapped = normalize_entity(key)
                if key and mapped is not None:
                    table.setdefault(key, mapped)
        for key, mapped in list(table.items()):
            for plural in _plural_candidates(key):
                if plural not in table and normalize_entity(plural) == mapped:
                    table[plural] = mapped
        self.table = table
        self.max_words = max(len(key.split(" ")) for key in table)

    def mentions(self, text: str | None) -> list[dict]:
        """[{"entity", "start", "end" (word indices), "locative"}] in text order ("none" mentions are skipped)."""
        words = _clean(text or "").split()
        found, i = [], 0
        while i < len(words):
            for n in range(min(self.max_words, len(words) - i), 0, -1):
                entity = self.table.get(" ".join(words[i : i + n]))
                if entity is not None:
                    break
            else:
                i += 1
                continue
            if entity != "none":
                before = [word for word in words[max(0, i - 3) : i] if word not in _DETERMINERS]
                locative = bool(before) and before[-1] in LOCATIVE_PREPOSITIONS
                if found and found[-1]["end"] == i:  # "at street intersections": a compound shares the preposition
                    locative = locative or found[-1]["locative"]
                found.append({"entity": entity, "start": i, "end": i + n, "locative": locative, "words": words})
            i += n
        return found


_LEXICON = None


def entity_lexicon() -> EntityLexicon:
    """The shared `EntityLexicon` (built on first use)."""
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = EntityLexicon()
    return _LEXICON


def _is_passive(first: dict, second: dict) -> bool:
    """Passive voice, "<first> was attacked by <second>": an auxiliary between them and "by" right before the second."""
    gap = [word for word in first["words"][first["end"] : second["start"]] if word not in _DETERMINERS]
    return bool(gap) and gap[-1] == "by" and any(word in PASSIVE_AUXILIARIES for word in gap[:-1])


def _subject_in(mentions: list[dict]) -> tuple[dict | None, dict | None]:
    """(subject mention, object mention forced by a passive) of one text."""
    agents = [m for m in mentions if m["entity"] in AGENT_ENTITIES and not m["locative"]]
    if not agents:
        return None, None
    subject = agents[0]
    following = [m for m in mentions if m["start"] >= subject["end"] and m["entity"] != subject["entity"]]
    if following and following[0]["entity"] in AGENT_ENTITIES and _is_passive(subject, following[0]):
        return following[0], subject
    return subject, None


def _is_weak(mention: dict) -> bool:
    """A place after "in / on / at ..." or a background entity ("road"): an object only when nothing else is."""
    return mention["locative"] or mention["entity"] in BACKGROUND_ENTITIES


def _object_candidates(texts: list[tuple[str, list[dict]]], subject: str, subject_mention: dict | None):
    """(source, mention) in order of preference: after the subject in its text, then anywhere in the description,
    then the reason; strong mentions before weak ones."""
    ordered = []
    for source, mentions in texts:
        if subject_mention is not None and mentions and mentions[0]["words"] is subject_mention["words"]:
            after = [m for m in mentions if m["start"] >= subject_mention["end"]]
            mentions = after + [m for m in mentions if m["start"] < subject_mention["end"]]
        ordered += [(source, m) for m in mentions if m["entity"] != subject]
    return [item for item in ordered if not _is_weak(item[1])] + [item for item in ordered if _is_weak(item[1])]


def extract_subject_object(description: str | None, reason: str | None = None) -> tuple[str, str, str, str]:
    """(subject, object, where the subject came from, where the object came from) of one event.

    Sources: "description", "reason" or "default" ("people" / "none"). Deterministic; see the module docstring.

    >>> extract_subject_object("Three masked thieves entered the house through the backyard to steal")
    ('thief', 'house', 'description', 'description')
    >>> extract_subject_object("A driver was robbed by a masked man with a gun")
    ('man', 'driver', 'description', 'description')
    """
    lexicon = entity_lexicon()
    texts = [("description", lexicon.mentions(description)), ("reason", lexicon.mentions(reason))]
    subject = forced_object = None
    subject_name, subject_source = DEFAULT_SUBJECT, "default"
    for source, mentions in texts:
        subject, forced_object = _subject_in(mentions)
        if subject is not None:
            subject_name, subject_source = subject["entity"], source
            break
    if forced_object is not None:
        return subject_name, forced_object["entity"], subject_source, subject_source
    candidates = _object_candidates(texts, subject_name, subject)
    if candidates:
        source, mention = candidates[0]
        return subject_name, mention["entity"], subject_source, source
    return subject_name, DEFAULT_OBJECT, subject_source, "default"


def extract_scene(type_code: str | None, description: str | None, reason: str | None = None) -> tuple[str, str]:
    """(scene, source): the sub-class scene ("subclass"), else the description's, then the reason's, else "Other"."""
    if type_code in CUVA_SUBCLASS_TO_SCENE:
        return CUVA_SUBCLASS_TO_SCENE[type_code], "subclass"
    for source, text in (("description", description), ("reason", reason)):
        scene = normalize_scene(text) if text else None
        if scene is not None:
            return scene, source
    return DEFAULT_SCENE, "default"


# ------------------------------------------------------------------------------------------------------ LLM extraction

LLM_PROMPT = (
    "Extract the subject, the object and the scene of this abnormal event from a surveillance video.\n"
    "Event: {description}\n"
    "Context: {reason}\n"
    'Answer in one line as "subject: <who acts>; object: <what is acted upon, or none>; scene: <where>".\n'
    "Answer:"
)
_LLM_FIELD = re.compile(r"\b(subject|object|scene)\s*[:=]\s*([^;\n|]+)", re.IGNORECASE)


def parse_llm_reply(reply: str) -> dict[str, str | None]:
    """{"subject", "object", "scene"} of an LLM reply, each normalised into the vocabulary or None.

    >>> parse_llm_reply("subject: two men; object: a black SUV; scene: on the highway")
    {'subject': 'man', 'object': 'car', 'scene': 'Road'}
    >>> parse_llm_reply("subject: a spaceship; object: none")
    {'subject': None, 'object': 'none', 'scene': None}
    """
    values = {}
    for match in _LLM_FIELD.finditer(reply or ""):
        values.setdefault(match.group(1).lower(), match.group(2).strip())
    subject = normalize_entity(values["subject"]) if "subject" in values else None
    return {
        "subject": subject if subject != "none" else None,
        "object": normalize_entity(values["object"]) if "object" in values else None,
        "scene": normalize_scene(values["scene"]) if "scene" in values else None,
    }


class LlmElementExtractor:
    """The paper's LLM step: a transformers causal LM asked for subject / object / scene (greedy, cached per text)."""

    def __init__(self, model_name_or_path: str, max_new_tokens: int = 32):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_name_or_path).eval()
        self.max_new_tokens = max_new_tokens
        path = str(model_name_or_path)
        self.name = Path(path).name if os.path.isdir(path) else path  # no local path in the card
        self.cache: dict[tuple[str, str], dict] = {}

    def prompt(self, description: str, reason: str) -> str:
        text = LLM_PROMPT.format(description=description.strip(), reason=(reason or "").strip()[:400])
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": text}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text

    def generate(self, description: str, reason: str) -> str:
        inputs = self.tokenizer(self.prompt(description, reason), return_tensors="pt")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self.torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad
            )
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def __call__(self, description: str, reason: str) -> dict[str, str | None]:
        key = (description or "", reason or "")
        if key not in self.cache:
            self.cache[key] = parse_llm_reply(self.generate(*key))
        return self.cache[key]


# ----------------------------------------------------------------------------------------------------------- building


@dataclass
class BuildOutcome:
    """The rows, the rejects and the counters of a build (before writing)."""

    rows: list[dict]
    rejects: list[dict]
    input_rows: int
    counters: Counter = field(default_factory=Counter)


def _row_reject(row: CuvaRow, video_id: str, problem: RowProblem) -> dict:
    return {
        "level": "row",
        "row": row.sheet_row,
        "video_id": video_id,
        "reason": problem.reason,
        "detail": problem.detail,
        "type_codes": row.type_codes or "",
        "moment": row.moment or "",
    }


def build_rows(
    cuva_rows: Sequence[CuvaRow],
    splits: dict[str, str],
    categories: dict[str, str] | None = None,
    gt: dict[str, dict[str, str]] | None = None,
    frame_sizes: dict[str, dict] | None = None,
    durations: dict[str, float | RowProblem] | None = None,
    duration_tolerance: float = 1.0,
    llm=None,
) -> BuildOutcome:
    """Turn round-1 rows into M-VAE rows (sheet order) and rejects.

    Args:
        durations: with a video root, `{"00001": seconds or RowProblem}` (a video absent from it is `video_missing`).
        llm: an `LlmElementExtractor` (or any callable `(description, reason) -> {"subject", "object", "scene"}`).
    """
    gt = gt or {}
    frame_sizes = frame_sizes or {}
    outcome = BuildOutcome([], [], len(cuva_rows))
    counters = outcome.counters
    seen: dict[str, int] = {}
    for row in tqdm(cuva_rows, desc="M-VAE rows", unit="row", disable=len(cuva_rows) < 100):
        raw_id = "" if row.video_id is None else str(row.video_id).strip()
        try:
            video_id = parse_video_id(row.video_id)
        except RowProblem as problem:
            outcome.rejects.append(_row_reject(row, raw_id, problem))
            continue
        video = f"{video_id}.mp4"
        try:
            if video_id in seen:
                raise RowProblem("duplicate_video_id", f"video {video_id} already at sheet row {seen[video_id]}")
            seen[video_id] = row.sheet_row
            if video not in splits:
                raise RowProblem("not_in_split", f"{video} is in neither split of splits.json")
            codes = parse_type_codes(row.type_codes, categories)
            segments = parse_moments(row.moment)
            duration = None
            if durations is not None:
                probed = durations.get(video_id, RowProblem("video_missing", f"no {video} under the video root"))
                if isinstance(probed, RowProblem):
                    raise probed
                duration = float(probed)
                for segment in segments:
                    if segment.problem is None and (
                        segment.start >= duration or segment.end > duration + duration_tolerance
                    ):
                        segment.problem = RowProblem(
                            "past_video_end",
                            f"segment {segment.index} {segment.text} = {segment.start:g}-{segment.end:g} s runs past "
                            f"the video's end at {duration:g} s",
                        )
            good = [segment for segment in segments if segment.problem is None]
            if not good:
                first = segments[0].problem
                details = "; ".join(segment.problem.detail for segment in segments)
                raise RowProblem(first.reason, f"no valid segment: {details}")
        except RowProblem as problem:
            outcome.rejects.append(_row_reject(row, video_id, problem))
            continue

        type_of_segment, pairing = pair_types_with_segments(codes, len(segments))
        counters[f"types_{pairing}"] += 1
        descriptions = parse_descriptions(row.description)
        if len(descriptions) == len(segments):
            segment_texts = descriptions
        else:
            segment_texts = [" ".join(descriptions)] * len(segments)
            counters["description_shared"] += 1
        events = []
        for segment, code, text in zip(segments, type_of_segment, segment_texts):
            if segment.problem is not None:
                outcome.rejects.append(
                    {
                        "level": "segment",
                        "row": row.sheet_row,
                        "video_id": video_id,
                        "segment": segment.index,
                        "moment": segment.text,
                        "reason": segment.problem.reason,
                        "detail": segment.problem.detail,
                    }
                )
                continue
            end = segment.end
            if duration is not None and end > duration:
                end = duration
                counters["end_clipped_to_duration"] += 1
            subject, obj, subject_source, object_source = extract_subject_object(text, row.reason)
            scene, scene_source = extract_scene(code, text, row.reason)
            if llm is not None:
                answer = llm(text, row.reason or "")
                if answer.get("subject") in ENTITIES and answer["subject"] != "none":
                    subject, subject_source = answer["subject"], "llm"
                if answer.get("object") in ENTITIES:
                    obj, object_source = answer["object"], "llm"
                if scene_source != "subclass" and answer.get("scene") in SCENES:
                    scene, scene_source = answer["scene"], "llm"
            counters[f"subject_from_{subject_source}"] += 1
            counters[f"object_from_{object_source}"] += 1
            counters[f"scene_from_{scene_source}"] += 1
            events.append(
                {
                    "start": segment.start,
                    "end": end,
                    "subject": subject,
                    "event_type": CUVA_CLASS_TO_EVENT_TYPE[int(code.split("-")[0])],
                    "object": obj,
                    "scene": scene,
                }
            )
        size = frame_sizes.get(video)
        source = {
            "type_codes": row.type_codes,
            "reason": row.reason,
            "result": row.result,
            "moment": row.moment,
            "description": row.description,
            "key_sentences": row.key_sentences,
            "gt_description": gt.get("description", {}).get(video),
            "gt_cause": gt.get("cause", {}).get(video),
            "gt_result": gt.get("result", {}).get(video),
            "frame_size": f"{size['width']}x{size['height']}" if size else "",
            "sheet_row": str(row.sheet_row),
        }
        outcome.rows.append(
            make_row(video_id, video, splits[video], events, duration, source, source_fields=MVAE_SOURCE_FIELDS)
        )
    return outcome


def probe_durations(video_root: str | os.PathLike, video_ids: Sequence[str]) -> dict[str, float | RowProblem]:
    """Each video's duration with the processor's video IO (`load_video(decode=False)`: no frame is decoded)."""
    root = Path(video_root)
    durations = {}
    for video_id in tqdm(video_ids, desc="video durations", unit="video"):
        path = root / f"{video_id}.mp4"
        if not path.is_file():
            durations[video_id] = RowProblem("video_missing", f"no {path.name} under the video root")
            continue
        try:
            durations[video_id] = float(load_video(path, num_frames=1, decode=False).duration)
        except VideoDecodeError as error:
            durations[video_id] = RowProblem("video_unreadable", f"{path.name}: {error.reason}")
    return durations


# ------------------------------------------------------------------------------------------------------------ round 2


def _union_length(intervals: Sequence[tuple[float, float]]) -> float:
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        total += current[1] - current[0]
    return total


def temporal_iou(first: Sequence[tuple[float, float]], second: Sequence[tuple[float, float]]) -> float:
    """IoU of the unions of two sets of intervals (seconds)."""
    union = _union_length([*first, *second])
    if union <= 0:
        return 0.0
    inter = _union_length(first) + _union_length(second) - union
    return max(0.0, inter) / union


def round2_agreement(round1: Sequence[CuvaRow], round2: Sequence[CuvaRow], categories=None) -> dict:
    """Agreement of the round-2 sheet with round 1 on the same video ids (first occurrence of each id per sheet)."""
    firsts = {}
    for row in round1:
        firsts.setdefault(str(row.video_id), row)
    stats = Counter()
    ious = []
    seen = set()
    for row in round2:
        key = str(row.video_id)
        if key in seen:
            stats["duplicates"] += 1
            continue
        seen.add(key)
        if key not in firsts:
            stats["unmatched"] += 1
            continue
        stats["matched"] += 1
        other = firsts[key]
        try:
            codes1, codes2 = (
                parse_type_codes(other.type_codes, categories),
                parse_type_codes(row.type_codes, categories),
            )
        except RowProblem:
            codes1 = codes2 = None
        if codes1 and codes2:
            top1 = max(codes1, key=lambda c: c[1])[0]
            top2 = max(codes2, key=lambda c: c[1])[0]
            stats["types_compared"] += 1
            stats["class_agree"] += top1.split("-")[0] == top2.split("-")[0]
            stats["subclass_agree"] += top1 == top2
        try:
            spans1 = [(s.start, s.end) for s in parse_moments(other.moment) if s.problem is None]
            spans2 = [(s.start, s.end) for s in parse_moments(row.moment) if s.problem is None]
        except RowProblem:
            spans1 = spans2 = []
        if spans1 and spans2:
            iou = temporal_iou(spans1, spans2)
            ious.append(iou)
            stats["moments_compared"] += 1
            stats["moments_identical"] += (other.moment or "").replace(" ", "") == (row.moment or "").replace(" ", "")
            stats["iou_at_least_0.5"] += iou >= 0.5
    result = dict(stats)
    result["round2_rows"] = len(round2)
    result["mean_temporal_iou"] = sum(ious) / len(ious) if ious else None
    return result


# ----------------------------------------------------------------------------------------------------------- features


def _nested_feature(rank: int, dtype: str):
    feature = datasets.Value(dtype)
    for _ in range(rank):
        feature = datasets.List(feature)
    return feature


def features_config_features() -> datasets.Features:
    """`datasets.Features` of the `features` config."""
    return datasets.Features(
        {
            "video_id": datasets.Value("string"),
            "video": datasets.Value("string"),
            "split": datasets.Value("string"),
            "video_sha256": datasets.Value("string"),
            "duration": datasets.Value("float64"),
            "timestamps": datasets.List(datasets.Value("float64")),
            "frame_indices": datasets.List(datasets.Value("int64")),
            **{name: _nested_feature(rank, dtype) for name, (rank, dtype) in FEATURE_ARRAYS.items()},
        }
    )


def _load_processor(processor):
    if processor is None or not isinstance(processor, (str, os.PathLike)):
        return processor
    from processing import SherlockProcessor

    return SherlockProcessor.from_pretrained(str(processor))


def compute_features(
    rows: Sequence[dict], video_root: str | os.PathLike, processor, cache_dir: str | os.PathLike
) -> tuple[list[dict], list[dict], dict]:
    """Expert features of every row's video through the processor's sampling, extractors and feature cache.

    Returns (feature rows, rejects for videos that failed, {"computed", "skipped"}): a video whose entry is already
    in the cache is skipped (its arrays are read back), so an interrupted run resumes where it stopped.
    """
    from processing import FeatureCache, video_content_hash

    processor.cache_dir = str(cache_dir)
    cache = FeatureCache(cache_dir)
    extractor_ids = processor.extractor_set.extractor_ids()
    out, rejects, counts = [], [], Counter(computed=0, skipped=0)
    for row in tqdm(rows, desc="expert features", unit="video"):
        path = Path(video_root) / row["video"]
        try:
            video_hash = video_content_hash(path)
            probe = processor.load_video(path, decode=False)
            if cache.contains(video_hash, probe.timestamps, extractor_ids):
                clip = probe
                arrays = cache.load(video_hash, probe.timestamps, extractor_ids)
                counts["skipped"] += 1
            else:
                clip = processor.load_video(path)
                arrays = processor.extract_features(clip, video_hash)
                counts["computed"] += 1
        except (VideoDecodeError, ValueError, RuntimeError) as error:
            rejects.append(
                {
                    "level": "features",
                    "row": int(row["source"]["sheet_row"]),
                    "video_id": row["video_id"],
                    "reason": "feature_extraction_failed",
                    "detail": str(error),
                }
            )
            continue
        record = {
            "video_id": row["video_id"],
            "video": row["video"],
            "split": row["split"],
            "video_sha256": video_hash,
            "duration": float(clip.duration),
            "timestamps": [float(t) for t in clip.timestamps],
            "frame_indices": [int(i) for i in clip.frame_indices],
        }
        for name in FEATURE_ARRAYS:
            record[name] = arrays[name].tolist()
        out.append(record)
    return out, rejects, dict(counts)


# --------------------------------------------------------------------------------------------------------- statistics


def compute_statistics(rows: Sequence[dict]) -> dict:
    """Table 1 (events / seconds per scene and split), event types, top-20 elements, quadruples per video."""
    table1 = {scene: {split: [0, 0.0] for split in SPLITS} for scene in SCENES}
    types = {event_type: Counter() for event_type in EVENT_TYPES}
    subjects, objects, per_video = Counter(), Counter(), {split: Counter() for split in SPLITS}
    elements = Counter()
    for row in rows:
        per_video[row["split"]][len(row["events"])] += 1
        for event in row["events"]:
            cell = table1[event["scene"]][row["split"]]
            cell[0] += 1
            cell[1] += event["end"] - event["start"]
            types[event["event_type"]][row["split"]] += 1
            subjects[event["subject"]] += 1
            objects[event["object"]] += 1
            for name in ("subject", "event_type", "object", "scene"):
                elements[event[name]] += 1
    top = lambda counter: sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:20]  # noqa: E731
    return {
        "videos": {split: sum(1 for row in rows if row["split"] == split) for split in SPLITS},
        "events": {split: sum(len(row["events"]) for row in rows if row["split"] == split) for split in SPLITS},
        "table1": table1,
        "event_types": types,
        "top_subjects": top(subjects),
        "top_objects": top(objects),
        "top_elements": top(elements),
        "events_per_video": per_video,
    }


def table1_markdown(stats: dict) -> str:
    """The paper's Table 1 layout: per scene, events and total event seconds in train / test / all."""
    header = ["Scene", "Train events", "Train seconds", "Test events", "Test seconds", "All events", "All seconds"]
    lines, totals = [], [0, 0.0, 0, 0.0]
    for scene in SCENES:
        train, test = stats["table1"][scene]["train"], stats["table1"][scene]["test"]
        totals = [totals[0] + train[0], totals[1] + train[1], totals[2] + test[0], totals[3] + test[1]]
        lines.append(
            [
                scene,
                train[0],
                f"{train[1]:.0f}",
                test[0],
                f"{test[1]:.0f}",
                train[0] + test[0],
                f"{train[1] + test[1]:.0f}",
            ]
        )
    lines.append(
        [
            "**All**",
            totals[0],
            f"{totals[1]:.0f}",
            totals[2],
            f"{totals[3]:.0f}",
            totals[0] + totals[2],
            f"{totals[1] + totals[3]:.0f}",
        ]
    )
    return markdown_table(header, lines)


def event_types_markdown(stats: dict) -> str:
    lines = []
    for number, event_type in enumerate(EVENT_TYPES, start=1):
        counts = stats["event_types"][event_type]
        lines.append(
            [event_type, f"{number} {CUVA_CLASS_NAMES[number]}", counts["train"], counts["test"], counts.total()]
        )
    return markdown_table(["Event type", "CUVA class", "Train", "Test", "All"], lines)


def top_elements_markdown(stats: dict) -> str:
    rows = []
    for rank in range(20):
        cells = [rank + 1]
        for key in ("top_elements", "top_subjects", "top_objects"):
            items = stats[key]
            cells += [f"{items[rank][0]} ({items[rank][1]})" if rank < len(items) else ""]
        rows.append(cells)
    return markdown_table(["#", "Any element", "Subject", "Object"], rows)


def events_per_video_markdown(stats: dict) -> str:
    counts = sorted({n for split in SPLITS for n in stats["events_per_video"][split]})
    lines = []
    for n in counts:
        train, test = stats["events_per_video"]["train"][n], stats["events_per_video"]["test"][n]
        lines.append([n, train, test, train + test])
    videos = sum(stats["videos"].values())
    events = sum(stats["events"].values())
    lines.append(["mean", *(_ratio(stats["events"][s], stats["videos"][s]) for s in SPLITS), _ratio(events, videos)])
    return markdown_table(["Quadruples per video", "Train videos", "Test videos", "All videos"], lines)


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def rejects_markdown(rejects: Sequence[dict]) -> str:
    counts = Counter((reject["level"], reject["reason"]) for reject in rejects)
    lines = [
        [level, f"`{reason}`", count, REJECT_REASONS.get(reason, "")]
        for (level, reason), count in sorted(counts.items())
    ]
    return markdown_table(["Level", "Reason", "Count", "Meaning"], lines) if lines else "No reject."


# --------------------------------------------------------------------------------------------------------------- card


def _dataset_info_yaml(configs: dict[str, tuple[datasets.Features, dict[str, tuple[int, int]]]]) -> str:
    """The card's `dataset_info` (features and split sizes per config): `load_dataset` reads the features from it."""
    infos = []
    for name, (features, split_sizes) in configs.items():
        infos.append(
            {
                "config_name": name,
                "features": features._to_yaml_list(),
                "splits": [
                    {"name": split, "num_bytes": num_bytes, "num_examples": count}
                    for split, (count, num_bytes) in split_sizes.items()
                ],
                "dataset_size": sum(num_bytes for _, num_bytes in split_sizes.values()),
            }
        )
    return yaml.safe_dump({"dataset_info": infos}, sort_keys=False, allow_unicode=True, width=1000)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render_card_body(
    outcome: BuildOutcome,
    stats: dict,
    agreement: dict,
    sheet: SheetContent,
    args: BuildMvaeArguments,
    input_hashes: dict[str, str],
    feature_summary: dict | None,
    llm_name: str | None,
) -> str:
    rows, rejects, counters = outcome.rows, outcome.rejects, outcome.counters
    row_rejects = [reject for reject in rejects if reject["level"] == "row"]
    segment_rejects = [reject for reject in rejects if reject["level"] == "segment"]
    events = sum(stats["events"].values())
    videos = len(rows)

    def share(key: str) -> str:
        return f"{counters[key]} ({100.0 * counters[key] / events:.1f} %)" if events else "0"

    lines = [
        "# M-VAE",
        "",
        "Multi-scene Video Abnormal Event extraction and localization (M-VAE), the instruction data of **Sherlock** "
        "(arXiv 2502.18863), rebuilt from the public annotations of **CUVA** (arXiv 2405.00181). One row per video: "
        "its abnormal events as `(start, end, subject, event type, object, scene)`, the paper's instruction and the "
        "canonical answer (one line per event, `23.0-25.0s: (people, Theft, car, Street)`).",
        "",
        "```python",
        "from datasets import load_dataset",
        'mvae = load_dataset("org/m-vae")          # or load_dataset("path/to/this/folder")',
        'mvae["train"][0]["answer"]',
        "```",
        "",
        "The videos are not included: `video` is the file name relative to a local copy of the CUVA videos "
        "(Hugging Face dataset `fesvhtr/CUVA`).",
        "",
        "## Licence and attribution",
        "",
        "CC BY-NC-SA 4.0, like the CUVA annotations it is derived from. The annotations (types, moments, descriptions, "
        "reasons, results, key sentences, the `gt_*` answers and the train / test split) are the work of the CUVA "
        "authors (Du et al., *Uncovering What, Why and How: A Comprehensive Benchmark for Causation Understanding "
        "of Video Anomaly*, arXiv 2405.00181, github.com/fesvhtr/CUVA). This dataset changes their format "
        "and maps their free text onto a closed vocabulary; errors of that mapping are ours.",
        "",
        "## Content",
        "",
        f"- {videos} videos ({stats['videos']['train']} train / {stats['videos']['test']} test), {events} events "
        f"({stats['events']['train']} train / {stats['events']['test']} test).",
        f"- {outcome.input_rows} input rows (the data rows of the round-1 sheet `{ROUND1_SHEET}`"
        + (f", the first {args.limit} only (`--limit`)" if args.limit is not None else "")
        + f"; the sheet's {sheet.example_rows} `example` rows and {sheet.blank_rows} blank rows are not input rows): "
        f"{videos} in the dataset + {len(row_rejects)} rejected rows = {videos + len(row_rejects)}. Rejected "
        f"segments of kept rows: {len(segment_rejects)}. Every reject is in `rejects.jsonl`.",
        "- Durations: "
        + (
            "read from the videos (`--video-root`)."
            if args.video_root
            else "not known (`duration` is null: the build did not read the videos)."
        ),
        "",
        "### Schema (`default` config)",
        "",
        markdown_table(
            ["Field", "Type", "Content"],
            [
                ["`video_id`", "string", '"00001"'],
                ["`video`", "string", '"00001.mp4", relative to a CUVA video folder'],
                ["`duration`", "float64 (nullable)", "seconds, when the videos were read"],
                ["`split`", "string", '"train" or "test" (CUVA\'s split, splits.json)'],
                ["`events`", "list of {start, end, subject, event_type, object, scene}", "seconds; vocabulary values"],
                ["`instruction`", "string", "the paper's instruction"],
                ["`answer`", "string", "`format_events(events)`, the training target"],
                ["`source`", "struct of strings", ", ".join(f"`{name}`" for name in MVAE_SOURCE_FIELDS)],
            ],
        ),
        "",
        "The exact `datasets` features are in the `dataset_info` of this card's YAML header.",
        "",
        "Vocabularies: event types (11, CUVA classes 1-11; class 11 Burning = Forbidden): "
        + ", ".join(EVENT_TYPES)
        + ". Scenes (14): "
        + ", ".join(SCENES)
        + ". Subjects and objects (one shared list): "
        + ", ".join(ENTITIES)
        + ".",
        "",
    ]
    if feature_summary is not None:
        lines += [
            "### Expert features (`features` config)",
            "",
            f'`load_dataset(..., "features")`: one row per video ({feature_summary["videos"]} videos) with '
            "`video_id`, `video`, `split`, `video_sha256` (content hash, the key of Sherlock's feature cache), "
            "`duration`, `timestamps` / `frame_indices` of the sampled frames and the seven expert arrays as nested "
            "lists: " + ", ".join(f"`{name}`" for name in FEATURE_ARRAYS) + ". They were computed by the processor's "
            f"extractors ({feature_summary['extractors']}) on its frame sampling ({feature_summary['sampling']}). The "
            "background frames (video pixels) are not published; they stay in the builder's local feature cache, "
            "which Sherlock's `precomputed` extractor backend reads.",
            "",
        ]
    lines += [
        "## How it was built",
        "",
        "`sherlock-build-mvae --cuva-dir CUVA --output-dir m-vae"
        + (" --video-root VIDEOS" if args.video_root else "")
        + (" --with-features --processor PROCESSOR" if feature_summary is not None else "")
        + (f" --llm-extractor {llm_name}" if llm_name else "")
        + (f" --limit {args.limit}" if args.limit is not None else "")
        + "` (`dataset_scripts/build_mvae.py` of the Sherlock repository), from these CUVA files:",
        "",
        markdown_table(["File", "SHA-256"], [[f"`{name}`", f"`{digest}`"] for name, digest in input_hashes.items()]),
        "",
        "- **Rows.** One row per round-1 row with a valid id (`1` -> `00001.mp4`). Sub-clip ids (`19-1`) and "
        "repeated ids (the later row) are rejected. The split is CUVA's (`splits.json`: 00001-00799 train, "
        "00800-01000 test).",
        "- **Events.** One event per `X3 moment` segment `[MMSS,MMSS]` (`0114` = 74 s). A time that is not four "
        "digits is not guessed (`malformed_moment`), seconds >= 60 and end <= start are rejected"
        + (
            f"; so is a segment running past the video's end by more than {args.duration_tolerance:g} s (the MMSS "
            "resolution); an end within that tolerance is clipped to the duration"
            if args.video_root
            else ""
        )
        + ". A bad segment of an otherwise good row is a segment-level reject, the row keeps its good segments; a "
        "row without any good segment is a row-level reject.",
        "- **Event type** from `X1` (`[class-subclass,score]`): the class gives the type. A row with several codes "
        "pairs the i-th code with the i-th segment when their numbers match, else uses the highest-score code for "
        "every segment. Free-text types (e.g. 枪战 gunfight, 逮捕 arrest, 视频损坏 broken video) are rejected.",
        "- **Subject and object** by a deterministic lexicon extraction over the shared entity vocabulary, from the "
        "segment's `X3 description` bracket (the i-th bracket for the i-th segment; the whole description when the "
        "counts differ), then from `X2 reason`: the subject is the first agent mentioned (person, vehicle, animal, "
        'fire, smoke, water, firework; not a place after "in / on / at"), with "X was <verb> by Y" giving Y; the '
        'object is the next different entity. Nothing found: subject "people", object "none".',
        "- **Scene** from the sub-class where it names one (1-1 Street, 1-3 School, 2-2 Wild, 3-2 Boat, 6-1 Shop, "
        "6-2 Bank, 7-1 / 9-4 Residential -> Residence, 9-2 Forest, 9-3 Factory), else from the description, then the "
        'reason, through the scene vocabulary; else "Other".',
    ]
    if llm_name:
        lines.append(
            f"- **LLM extraction** with `{llm_name}` (greedy): its subject / object / scene replace the lexicon's when "
            "they map into the vocabulary; the sub-class scene still wins."
        )
    lines += [
        "- **Answer** = `format_events(events)` (events sorted by start), **instruction** = the paper's: "
        f"*{DEFAULT_INSTRUCTION}*",
        "",
        "Where the fields came from (over all events):",
        "",
        markdown_table(
            ["Field", "Sub-class", "Description", "Reason", "LLM", "Fallback"],
            [
                [
                    "subject",
                    "-",
                    share("subject_from_description"),
                    share("subject_from_reason"),
                    share("subject_from_llm"),
                    f'"people": {share("subject_from_default")}',
                ],
                [
                    "object",
                    "-",
                    share("object_from_description"),
                    share("object_from_reason"),
                    share("object_from_llm"),
                    f'"none": {share("object_from_default")}',
                ],
                [
                    "scene",
                    share("scene_from_subclass"),
                    share("scene_from_description"),
                    share("scene_from_reason"),
                    share("scene_from_llm"),
                    f'"Other": {share("scene_from_default")}',
                ],
            ],
        ),
        "",
        f"Rows whose description brackets do not match their segments (whole description used): "
        f"{counters['description_shared']}. Rows with several `X1` codes: {counters['types_in_order']} paired in "
        f"order, {counters['types_highest_score']} with the highest-score code."
        + (
            f" Event ends clipped to the video's duration: {counters['end_clipped_to_duration']}."
            if args.video_root
            else ""
        ),
        "",
        "## Rejects",
        "",
        "`rejects.jsonl`: one JSON object per reject, `level` (`row`: the input row is not in the dataset, exactly one "
        "such record per missing row; `segment`: one segment of a kept row"
        + (" ; `features`: a kept video whose features failed" if feature_summary is not None else "")
        + "), `row` (sheet row number, header = 1), `video_id`, `reason` (stable code), `detail`.",
        "",
        rejects_markdown(rejects),
        "",
        "## Statistics",
        "",
        "### Events and event seconds per scene (Table 1 layout)",
        "",
        table1_markdown(stats),
        "",
        "### Event types",
        "",
        event_types_markdown(stats),
        "",
        "### Top-20 elements (Figure 1c / 4)",
        "",
        top_elements_markdown(stats),
        "",
        "### Quadruples per video",
        "",
        events_per_video_markdown(stats),
        "",
        "## Round-2 agreement",
        "",
        f"The round-2 sheet `{ROUND2_SHEET}` (a second annotator's type and moment, {agreement.get('round2_rows', 0)} "
        "rows) is not used in the data; its agreement with round 1 on the same ids:",
        "",
        agreement_markdown(agreement),
        "",
        "## Known differences from the paper",
        "",
        f"- Events: the paper reports {PAPER_EVENTS['train']} train / {PAPER_EVENTS['test']} test events "
        f"({sum(PAPER_EVENTS.values())}); this build has {stats['events']['train']} / {stats['events']['test']} "
        f"({events}), i.e. {_ratio(events, videos)} events per video: CUVA's round-1 sheet has mostly one `X3 "
        "moment` segment per video, and the paper's own splitting of segments into events is not public.",
        "- Subject / object / scene come from a lexicon over CUVA's English texts (optionally an LLM, "
        "`--llm-extractor`), not from the paper's GPT-based extraction and manual check; the vocabularies are "
        "Sherlock's closed lists (DESIGN §4), so rare entities map to their nearest canonical form.",
        "- Rows that the paper may have repaired by hand (free-text types, malformed moments, sub-clips) are rejected "
        "here, with reasons.",
        "",
        "## Citation",
        "",
        "```bibtex",
        "@article{cuva2024,",
        "  title = {Uncovering What, Why and How: A Comprehensive Benchmark for Causation Understanding of Video "
        "Anomaly},",
        "  author = {Du, Hang and others},",
        "  journal = {arXiv preprint arXiv:2405.00181},",
        "  year = {2024}",
        "}",
        "```",
    ]
    return "\n".join(lines)


def agreement_markdown(agreement: dict) -> str:
    compared = agreement.get("types_compared", 0)
    moments = agreement.get("moments_compared", 0)
    iou = agreement.get("mean_temporal_iou")
    lines = [
        ["ids in both sheets", agreement.get("matched", 0)],
        ["round-2 ids not in round 1 / repeated in round 2", f"{agreement.get('unmatched', 0)} / {agreement.get('duplicates', 0)}"],
        ["both types are codes", compared],
        ["same class (event type)", f"{agreement.get('class_agree', 0)} ({_percent(agreement.get('class_agree', 0), compared)})"],
        ["same sub-class", f"{agreement.get('subclass_agree', 0)} ({_percent(agreement.get('subclass_agree', 0), compared)})"],
        ["both moments parse", moments],
        ["identical moments", f"{agreement.get('moments_identical', 0)} ({_percent(agreement.get('moments_identical', 0), moments)})"],
        ["mean temporal IoU (union of segments)", "-" if iou is None else f"{iou:.3f}"],
        ["temporal IoU >= 0.5", f"{agreement.get('iou_at_least_0.5', 0)} ({_percent(agreement.get('iou_at_least_0.5', 0), moments)})"],
    ]  # fmt: skip
    return markdown_table(["Measure", "Value"], lines)


def _percent(numerator: float, denominator: float) -> str:
    return f"{100.0 * numerator / denominator:.1f} %" if denominator else "-"


# --------------------------------------------------------------------------------------------------------------- main


@dataclass
class BuildResult:
    """What `build_mvae` wrote and counted."""

    output_dir: Path
    rows: list[dict]
    rejects: list[dict]
    input_rows: int
    statistics: dict
    agreement: dict
    counters: Counter
    feature_counts: dict | None = None
    hub_url: str | None = None


def _split_sizes(rows: Sequence[dict], features: datasets.Features) -> dict[str, tuple[int, int]]:
    """{split: (rows, Arrow bytes)}."""
    sizes = {}
    for split in SPLITS:
        split_rows = [row for row in rows if row["split"] == split]
        if split_rows:
            sizes[split] = (len(split_rows), datasets.Dataset.from_list(split_rows, features=features).data.nbytes)
    return sizes


def _describe_extractors(settings: dict) -> str:
    """Backends and model names, e.g. "detector: rt_detr (`rtdetr_r50vd`)" (a local path shows its folder name)."""
    parts = []
    for name, part in sorted(settings.items()):
        if not isinstance(part, dict):
            parts.append(f"{name}: {part}")
            continue
        model = part.get("model")
        if model and os.path.isabs(str(model)):
            model = Path(str(model)).name
        parts.append(f"{name}: {part.get('backend', '?')}" + (f" (`{model}`)" if model else ""))
    return ", ".join(parts)


def _remove_stale_shards(output: Path, config: str, split: str) -> None:
    for stale in (output / config).glob(f"{split}-*.parquet"):
        stale.unlink()


def build_mvae(args: BuildMvaeArguments, processor=None) -> BuildResult:
    """Build M-VAE into `args.output_dir` (see the module docstring). `processor` overrides `args.processor`."""
    cuva = Path(args.cuva_dir)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if args.with_features and not args.video_root:
        raise ValueError("--with-features needs --video-root (the videos to extract features from).")
    if args.with_features and processor is None and args.processor is None:
        raise ValueError("--with-features needs --processor (a SherlockProcessor folder or Hub id).")

    sheet = read_annotation_sheet(cuva / "annotations.xlsx", ROUND1_SHEET)
    input_rows = sheet.rows if args.limit is None else sheet.rows[: args.limit]
    categories = read_categories(cuva / "Category.txt")
    splits = read_splits(cuva / "splits.json")
    gt = {
        "description": read_gt_answers(cuva / "gt_Descriptionv1.json"),
        "cause": read_gt_answers(cuva / "gt_Causev1.json"),
        "result": read_gt_answers(cuva / "gt_Resultv1.json"),
    }
    frame_sizes = json.loads((cuva / "frame_size.json").read_text(encoding="utf-8"))
    logger.info("read %d input rows (%d example rows skipped)", len(input_rows), sheet.example_rows)

    durations = None
    if args.video_root:
        ids = []
        for row in input_rows:
            try:
                ids.append(parse_video_id(row.video_id))
            except RowProblem:
                pass
        durations = probe_durations(args.video_root, sorted(set(ids)))
    llm = LlmElementExtractor(args.llm_extractor, args.llm_max_new_tokens) if args.llm_extractor else None
    outcome = build_rows(input_rows, splits, categories, gt, frame_sizes, durations, args.duration_tolerance, llm)

    features = mvae_features(MVAE_SOURCE_FIELDS)
    configs = [ConfigFiles("default", default=True)]
    info = {"default": (features, _split_sizes(outcome.rows, features))}
    for split in SPLITS:  # a split without rows (e.g. with --limit) is left out of the config
        split_rows = [row for row in outcome.rows if row["split"] == split]
        if split_rows:
            configs[0].splits[split] = write_split(split_rows, features, output, "default", split, args.rows_per_shard)
        else:
            _remove_stale_shards(output, "default", split)

    feature_summary, feature_counts = None, None
    if args.with_features:
        processor = _load_processor(processor if processor is not None else args.processor)
        cache_dir = args.feature_cache_dir or processor.cache_dir or os.path.expanduser("~/.cache/sherlock/features")
        feature_rows, feature_rejects, feature_counts = compute_features(
            outcome.rows, args.video_root, processor, cache_dir
        )
        outcome.rejects.extend(feature_rejects)
        logger.info("features: %(computed)d videos computed, %(skipped)d found in the cache", feature_counts)
        feature_features = features_config_features()
        configs.append(ConfigFiles("features"))
        for split in SPLITS:
            split_rows = [row for row in feature_rows if row["split"] == split]
            if split_rows:
                configs[1].splits[split] = write_split(
                    split_rows, feature_features, output, "features", split, args.rows_per_shard
                )
            else:
                _remove_stale_shards(output, "features", split)
        info["features"] = (feature_features, _split_sizes(feature_rows, feature_features))
        sampling = f"fps={processor.fps}" if processor.fps is not None else f"num_frames={processor.num_frames}"
        feature_summary = {
            "videos": len(feature_rows),
            "sampling": sampling,
            "extractors": _describe_extractors(processor.extractors),
        }

    write_rejects(output, outcome.rejects)
    round2 = read_annotation_sheet(cuva / "annotations.xlsx", ROUND2_SHEET).rows
    considered = {str(row.video_id) for row in input_rows}
    agreement = round2_agreement(input_rows, [row for row in round2 if str(row.video_id) in considered], categories)
    stats = compute_statistics(outcome.rows)
    input_hashes = {name: _file_sha256(cuva / name) for name in CUVA_FILES if (cuva / name).is_file()}
    body = render_card_body(
        outcome, stats, agreement, sheet, args, input_hashes, feature_summary, llm.name if llm else None
    )
    header = card_header(
        configs,
        license=LICENSE,
        pretty_name=PRETTY_NAME,
        extra={
            "language": ["en"],
            "task_categories": ["video-text-to-text"],
            "tags": ["video", "anomaly", "event-extraction", "temporal-localization", "cuva", "sherlock"],
            "size_categories": "n<1K" if len(outcome.rows) < 1000 else "1K<n<10K",
        },
    )
    header = header[: -len("---\n")] + _dataset_info_yaml(info) + "---\n"
    write_card(output, header, body)
    result = BuildResult(
        output, outcome.rows, outcome.rejects, outcome.input_rows, stats, agreement, outcome.counters, feature_counts
    )
    if args.push_to_hub:
        result.hub_url = push_dataset_folder(
            output, args.push_to_hub, token=args.hub_token, endpoint=args.hub_endpoint, private=args.hub_private
        )
    return result


def summary_text(result: BuildResult) -> str:
    """The statistics printed at the end of a build (the same tables as the card)."""
    row_rejects = Counter(r["reason"] for r in result.rejects if r["level"] == "row")
    lines = [
        f"M-VAE written to {result.output_dir}",
        f"input rows: {result.input_rows}; videos: {len(result.rows)} "
        f"({result.statistics['videos']['train']} train / {result.statistics['videos']['test']} test); "
        f"events: {sum(result.statistics['events'].values())}; row rejects: {sum(row_rejects.values())}; "
        f"segment rejects: {sum(1 for r in result.rejects if r['level'] == 'segment')}",
        "",
        rejects_markdown(result.rejects),
        "",
        table1_markdown(result.statistics),
        "",
        event_types_markdown(result.statistics),
        "",
        top_elements_markdown(result.statistics),
        "",
        events_per_video_markdown(result.statistics),
        "",
        agreement_markdown(result.agreement),
    ]
    if result.feature_counts is not None:
        lines += [
            "",
            "features: {computed} videos computed, {skipped} found in the feature cache".format(
                **result.feature_counts
            ),
        ]
    if result.hub_url:
        lines += ["", f"uploaded: {result.hub_url}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `sherlock-build-mvae`."""
    return run_builder(
        "sherlock-build-mvae",
        BuildMvaeArguments,
        build_mvae,
        summary_text,
        argv,
        description="Build the M-VAE dataset from the CUVA annotations.",
    )


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BuildMvaeArguments",
    "BuildResult",
    "EntityLexicon",
    "LlmElementExtractor",
    "build_mvae",
    "build_rows",
    "compute_statistics",
    "extract_scene",
    "extract_subject_object",
    "main",
    "parse_llm_reply",
    "parse_moments",
    "parse_type_codes",
    "parse_video_id",
    "round2_agreement",
    "temporal_iou",
]
