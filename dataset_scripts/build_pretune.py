"""Stage-1 pre-tuning data of Sherlock (DESIGN §4-5; paper §4, "pre-tuning on spatial data"): four public datasets
converted into one instruction-following dataset, each row a (media, instruction, answer) triple.

    sherlock-build-pretune --output-dir ./pretune \\
        --humanml3d-dir HumanML3D --ref-l4-dir Ref-L4 --rsi-cb-dir RSI-CB256 \\
        --coco-captions-file coco/annotations/captions_train2017.json --coco-images-dir coco/train2017 \\
        --max-per-source 20000 --seed 0 [--push-to-hub org/sherlock-pretune]

Sources that are not given are skipped; the card says which ones were included. Media are never copied: a row's
`media` is a path relative to the root of its source (the folder given for it), so the data stays small and the
licences of the media stay with their owners.

The instructions (the paper's strings; `INSTRUCTIONS`):

| source          | media  | instruction                                  | answer                                   |
|-----------------|--------|----------------------------------------------|------------------------------------------|
| `humanml3d`     | motion | `Judge the action of the characters`         | one caption of the motion                |
| `ref_l4`        | image  | `Describe the image region [x1, y1, x2, y2]` | the referring expression                 |
| `rsi_cb`        | image  | `Judge the background of the image`          | the scene class, humanised               |
| `coco_captions` | image  | `Describe the image`                         | one caption of the image                 |

Ref-L4's template is `Describe the image region <objs>`; `<objs>` becomes the box normalised by the image size,
clipped to [0, 1] and written `[x1, y1, x2, y2]` with exactly three decimals, ", " between them (e.g.
`Describe the image region [0.255, 0.254, 0.473, 0.813]`); the row's `regions` holds the same four numbers.

Source formats (the public releases; HumanML3D checked against its own text loader, Ref-L4 against its Hub card
and data loader, RSI-CB against its published class names, COCO from its documented annotation format):

- **HumanML3D** (github.com/EricGuo5513/HumanML3D): `train.txt` / `val.txt` / `test.txt` list motion ids (one per
  line, mirrored ones prefixed `M`); `texts/<id>.txt` holds one caption per line as `caption#tokens#start#end`
  (tokens `word/POS` separated by spaces; start/end in seconds, `0.0#0.0` = the whole clip, `nan` read as 0.0
  exactly as the dataset's own loader does); motions are `new_joints/<id>.npy` (joint positions, preferred) or
  `new_joint_vecs/<id>.npy` (263-d features). One row per caption line (every caption is a training target; a
  caption of a sub-segment keeps its `start`/`end`). `all.txt` / `train_val.txt` are not read (they repeat the
  three splits).
- **Ref-L4** (huggingface.co/datasets/JierunChen/Ref-L4): `ref-l4-val.parquet` / `ref-l4-test.parquet` (or JSON /
  JSONL with the same records), fields `id`, `caption` (the referring expression), `bbox` (`[x, y, w, h]` pixels),
  `image_id`, `file_name`, `height`, `width`, `split` (`val` / `test`), ...; the images (`images.tar.gz`) extracted
  either into `images/` or next to the annotations. `--ref-l4-dir` takes the folder (every top-level `*.parquet`,
  else `*.json` / `*.jsonl`) or one annotation file (images looked up beside it). One row per annotation. A box may
  overshoot the image by at most `BOX_TOLERANCE_PX` pixels (rounding in the source) and is then clipped; beyond that
  it is rejected.
- **RSI-CB** (github.com/lehaifeng/RSI-CB; RSI-CB256 / RSI-CB128): class folders,
  `<root>/<category>/<class>/<image>.tif` or a single level `<root>/<class>/<image>`; the class is the image's
  parent folder, humanised (`airport_runway` -> `airport runway`). One row per image file.
- **COCO captions** (cocodataset.org, `annotations/captions_<split><year>.json`):
  `{"images": [{"id", "file_name", "width", "height", ...}], "annotations": [{"id", "image_id", "caption"}]}`, the
  images in `--coco-images-dir`. One row per caption annotation.

Texts are only whitespace-normalised (stripped, runs of white space collapsed); nothing is lower-cased or rewritten.

Output (dataset_io's discipline): one config per included source plus `all` (the default config) whose data files
are the source configs' shards, concatenated in source order (no duplicated bytes); one split, `train` — stage 1
trains on every row, the source's own split is kept in `source_split`. `rejects.jsonl` lists every input unit that
did not become a row, with `source`, `id`, `reason` (`REJECT_REASONS`) and `detail`. `--max-per-source` keeps a
seeded uniform sample of M rows out of N (`random.Random(f"{seed}:{source}")`, kept in source order); sampled-out
rows are not rejects, the card reports "N available -> M kept".
"""

import json
import logging
import math
import random
import re
import shutil
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets

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


logger = logging.getLogger(__name__)

SOURCES = ("humanml3d", "ref_l4", "rsi_cb", "coco_captions")
ALL_CONFIG = "all"
SPLIT = "train"
REGION_PLACEHOLDER = "<objs>"
INSTRUCTIONS = {
    "humanml3d": "Judge the action of the characters",
    "ref_l4": f"Describe the image region {REGION_PLACEHOLDER}",
    "rsi_cb": "Judge the background of the image",
    "coco_captions": "Describe the image",
}
MEDIA_TYPES = {"humanml3d": "motion", "ref_l4": "image", "rsi_cb": "image", "coco_captions": "image"}
SOURCE_NAMES = {"humanml3d": "HumanML3D", "ref_l4": "Ref-L4", "rsi_cb": "RSI-CB", "coco_captions": "COCO captions"}
SOURCE_LICENSES = {
    "humanml3d": "HumanML3D annotations (MIT); the motions derive from AMASS / HumanAct12 under their own licences",
    "ref_l4": "CC BY-NC 4.0 (images from COCO / Objects365 under their licences)",
    "rsi_cb": "research use, see github.com/lehaifeng/RSI-CB",
    "coco_captions": "COCO annotations: CC BY 4.0; images: Flickr terms of use",
}
DEFAULT_MAX_PER_SOURCE = 20000  # the paper samples 20k examples from each source

HUMANML3D_SPLITS = ("train", "val", "test")
HUMANML3D_MOTION_DIRS = ("new_joints", "new_joint_vecs")  # first existing file wins
REF_L4_SPLITS = ("val", "test")
REF_L4_IMAGE_DIRS = ("images", "")  # relative to the Ref-L4 root, first existing file wins
BOX_TOLERANCE_PX = 1.0
BOX_DECIMALS = 3
RSI_CB_EXTENSIONS = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp")

REJECT_REASONS = {
    "missing_media": "the media file the annotation points at does not exist",
    "empty_media": "the media file is empty (0 bytes)",
    "missing_text": "HumanML3D: an id listed in a split file has no texts/<id>.txt",
    "malformed_line": "HumanML3D: a line is not `caption#tokens#start#end` with numeric times",
    "bad_time": "HumanML3D: negative times or end <= start",
    "empty_answer": "the caption / referring expression is empty",
    "bad_box": "Ref-L4: the box is not 4 finite numbers, is empty, or leaves the image",
    "bad_image_size": "Ref-L4: width / height missing or not positive",
    "unknown_split": "the split is not one of the source's splits (or the item is in no split file)",
    "duplicate_id": "the id was already used by an earlier item of the source",
    "unknown_image": "COCO: the caption's image_id is not in `images`",
    "no_class": "RSI-CB: an image directly in the root, without a class folder",
    "not_image": "RSI-CB: a file that is not an image (by extension)",
}
STOPWORDS = frozenset(
    "a an the and or of to in on at with from by for as is are was be it its this that his her their them he she "
    "they while then there into onto".split()
)


def pretune_features() -> datasets.Features:
    """The `datasets.Features` of a pre-tuning row (the same for every config)."""
    return datasets.Features(
        {
            "source": datasets.Value("string"),
            "id": datasets.Value("string"),
            "source_split": datasets.Value("string"),
            "media": datasets.Value("string"),
            "media_type": datasets.Value("string"),
            "start": datasets.Value("float64"),
            "end": datasets.Value("float64"),
            "instruction": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "regions": datasets.List(datasets.List(datasets.Value("float64"), length=4)),
        }
    )


SCHEMA_DOC = (
    ("source", "string", "`humanml3d`, `ref_l4`, `rsi_cb` or `coco_captions`"),
    (
        "id",
        "string",
        "unique within the source: HumanML3D `<motion id>#<caption line>`, Ref-L4 annotation `id`, "
        "RSI-CB the image path, COCO the caption annotation `id`",
    ),
    ("source_split", "string", "the source's own split (`train` / `val` / `test`; empty for RSI-CB, which has none)"),
    ("media", "string", "path of the motion / image relative to the source root given to the builder"),
    ("media_type", "string", "`motion` (HumanML3D `.npy`) or `image`"),
    ("start", "float64 (null)", "HumanML3D: start of the captioned segment in seconds; null = whole clip / image"),
    ("end", "float64 (null)", "HumanML3D: end of the captioned segment in seconds; null = whole clip / image"),
    ("instruction", "string", "the paper's instruction for the source (Ref-L4: with the normalised box)"),
    ("answer", "string", "the training target"),
    ("regions", "list of [x1, y1, x2, y2] float64", "Ref-L4: the box normalised to [0, 1], 3 decimals; else empty"),
)


@dataclass
class SourceResult:
    """What a converter read from one source: the rows, the rejects and how many input units it considered."""

    source: str
    rows: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    inputs: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    def add_row(self, **row) -> None:
        self.inputs += 1
        self.rows.append(make_row(self.source, **row))

    def reject(self, item_id: str, reason: str, detail: str = "") -> None:
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        self.inputs += 1
        self.rejects.append({"source": self.source, "id": str(item_id), "reason": reason, "detail": detail})


def make_row(
    source: str,
    id: str,
    media: str,
    answer: str,
    source_split: str = "",
    instruction: str | None = None,
    regions: Sequence[Sequence[float]] = (),
    start: float | None = None,
    end: float | None = None,
) -> dict:
    """A pre-tuning row of `pretune_features()`; the instruction defaults to the source's."""
    return {
        "source": source,
        "id": str(id),
        "source_split": source_split,
        "media": media,
        "media_type": MEDIA_TYPES[source],
        "start": start,
        "end": end,
        "instruction": INSTRUCTIONS[source] if instruction is None else instruction,
        "answer": answer,
        "regions": [list(region) for region in regions],
    }


def normalize_text(text) -> str:
    """Strip and collapse white space; `None` / non-strings become ''."""
    return " ".join(text.split()) if isinstance(text, str) else ""


def humanize_class_name(name: str) -> str:
    """`airport_runway` -> `airport runway` (underscores / dashes to spaces, lower case, single spaces)."""
    return " ".join(re.sub(r"[_\-]+", " ", name).lower().split())


def format_region(region: Sequence[float]) -> str:
    """`[0.255, 0.254, 0.473, 0.813]`: three decimals, ', ' between."""
    return "[" + ", ".join(f"{value:.{BOX_DECIMALS}f}" for value in region) + "]"


def region_instruction(region: Sequence[float]) -> str:
    """Ref-L4's instruction with `<objs>` replaced by the formatted region."""
    return INSTRUCTIONS["ref_l4"].replace(REGION_PLACEHOLDER, format_region(region))


def normalize_box(bbox, width, height, tolerance: float = BOX_TOLERANCE_PX) -> tuple[list[float] | None, str]:
    """A COCO-style `[x, y, w, h]` pixel box -> `[x1, y1, x2, y2]` in [0, 1] rounded to 3 decimals.

    Returns `(region, "")`, or `(None, reason)` with reason `bad_image_size` or `bad_box` (not 4 finite numbers,
    w or h <= 0, or a side more than `tolerance` pixels outside the image; smaller overshoots are clipped).
    """
    try:
        width, height = float(width), float(height)
    except (TypeError, ValueError):
        return None, "bad_image_size"
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        return None, "bad_image_size"
    try:
        values = [float(value) for value in bbox]
    except (TypeError, ValueError):
        return None, "bad_box"
    if len(values) != 4 or not all(math.isfinite(value) for value in values):
        return None, "bad_box"
    x, y, w, h = values
    if w <= 0 or h <= 0:
        return None, "bad_box"
    x1, y1, x2, y2 = x, y, x + w, y + h
    if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        return None, "bad_box"
    clipped = (
        min(max(x1, 0.0), width) / width,
        min(max(y1, 0.0), height) / height,
        min(max(x2, 0.0), width) / width,
        min(max(y2, 0.0), height) / height,
    )
    return [round(value, BOX_DECIMALS) for value in clipped], ""


def parse_humanml3d_line(line: str) -> tuple[str, float | None, float | None, str]:
    """One `texts/<id>.txt` line -> `(caption, start, end, reason)`.

    `nan` times read as 0.0 (as HumanML3D's loader does); `0.0#0.0` -> `(caption, None, None, "")` = whole clip.
    `reason` is '' or `malformed_line` / `bad_time` / `empty_answer`.
    """
    parts = line.rstrip("\r\n").split("#")
    if len(parts) != 4:
        return "", None, None, "malformed_line"
    caption = normalize_text(parts[0])
    try:
        start, end = float(parts[2]), float(parts[3])
    except ValueError:
        return caption, None, None, "malformed_line"
    start = 0.0 if math.isnan(start) else start
    end = 0.0 if math.isnan(end) else end
    if not caption:
        return caption, None, None, "empty_answer"
    if start == 0.0 and end == 0.0:
        return caption, None, None, ""
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        return caption, start, end, "bad_time"
    return caption, start, end, ""


def _has_nan_time(line: str) -> bool:
    parts = line.split("#")
    return len(parts) == 4 and any(part.strip().lower() == "nan" for part in parts[2:])


def convert_humanml3d(root: str | Path) -> SourceResult:
    """HumanML3D -> one row per caption line of every id listed in `train.txt` / `val.txt` / `test.txt`.

    Input units: each non-blank caption line of a listed id; a listed id without a text file (one unit); a text
    file whose id is in no split file (one unit, `unknown_split`); a repeated id in the split files (one unit).
    """
    root = Path(root)
    result = SourceResult("humanml3d")
    nan_times = 0
    listed: set[str] = set()
    for split in HUMANML3D_SPLITS:
        split_file = root / f"{split}.txt"
        if not split_file.is_file():
            logger.warning("HumanML3D: %s is missing; no %s ids", split_file.name, split)
            continue
        for motion_id in (line.strip() for line in split_file.read_text(encoding="utf-8").splitlines()):
            if not motion_id:
                continue
            if motion_id in listed:
                result.reject(motion_id, "duplicate_id", f"listed again in {split}.txt")
                continue
            listed.add(motion_id)
            text_file = root / "texts" / f"{motion_id}.txt"
            if not text_file.is_file():
                result.reject(motion_id, "missing_text", f"texts/{motion_id}.txt")
                continue
            media = next(
                (
                    f"{folder}/{motion_id}.npy"
                    for folder in HUMANML3D_MOTION_DIRS
                    if (root / folder / f"{motion_id}.npy").is_file()
                ),
                None,
            )
            lines = [
                line
                for line in text_file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
                if line.strip()
            ]
            for index, line in enumerate(lines):
                item_id = f"{motion_id}#{index}"
                if media is None:
                    result.reject(item_id, "missing_media", f"{HUMANML3D_MOTION_DIRS[0]}/{motion_id}.npy")
                    continue
                caption, start, end, reason = parse_humanml3d_line(line)
                if reason:
                    result.reject(item_id, reason, line.strip()[:200])
                    continue
                nan_times += _has_nan_time(line)
                result.add_row(id=item_id, media=media, answer=caption, source_split=split, start=start, end=end)
    texts = root / "texts"
    if texts.is_dir():
        for text_file in sorted(texts.glob("*.txt")):
            if text_file.stem not in listed:
                result.reject(text_file.stem, "unknown_split", "in no split file")
    result.notes["captions with nan times read as 0.0"] = nan_times
    return result


def _read_ref_l4_records(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("annotations", data.get("data"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of annotation records")
    return data


def ref_l4_annotation_files(path: str | Path) -> tuple[Path, list[Path]]:
    """`(root, files)`: a folder's top-level `*.parquet` (else `*.json` / `*.jsonl`), or the one file given."""
    path = Path(path)
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise FileNotFoundError(f"Ref-L4: {path} does not exist")
    files = sorted(path.glob("*.parquet")) or sorted([*path.glob("*.json"), *path.glob("*.jsonl")])
    if not files:
        raise FileNotFoundError(f"Ref-L4: no *.parquet / *.json / *.jsonl annotation file in {path}")
    return path, files


def convert_ref_l4(path: str | Path) -> SourceResult:
    """Ref-L4 -> one row per annotation (referring expression + box) whose image exists. Input unit: an annotation."""
    root, files = ref_l4_annotation_files(path)
    result = SourceResult("ref_l4")
    seen: set[str] = set()
    found: dict[str, str | None] = {}
    for annotation_file in files:
        match = re.search(r"(val|test)", annotation_file.stem)
        file_split = match.group(1) if match else ""
        for index, record in enumerate(_read_ref_l4_records(annotation_file)):
            raw_id = record.get("id", record.get("ann_id"))
            item_id = str(raw_id) if raw_id is not None else f"{annotation_file.name}:{index}"
            if item_id in seen:
                result.reject(item_id, "duplicate_id")
                continue
            seen.add(item_id)
            split = record.get("split") or file_split
            if split and split not in REF_L4_SPLITS:
                result.reject(item_id, "unknown_split", str(split))
                continue
            caption = normalize_text(record.get("caption"))
            if not caption:
                result.reject(item_id, "empty_answer")
                continue
            region, reason = normalize_box(record.get("bbox"), record.get("width"), record.get("height"))
            if region is None:
                detail = f"bbox={record.get('bbox')} width={record.get('width')} height={record.get('height')}"
                result.reject(item_id, reason, detail)
                continue
            file_name = record.get("file_name") or ""
            if file_name not in found:
                found[file_name] = next(
                    (
                        Path(folder, file_name).as_posix()
                        for folder in REF_L4_IMAGE_DIRS
                        if file_name and (root / folder / file_name).is_file()
                    ),
                    None,
                )
            media = found[file_name]
            if media is None:
                result.reject(item_id, "missing_media", file_name)
                continue
            result.add_row(
                id=item_id,
                media=media,
                answer=caption,
                source_split=split,
                instruction=region_instruction(region),
                regions=[region],
            )
    return result


def convert_rsi_cb(root: str | Path) -> SourceResult:
    """RSI-CB class folders -> one row per image, answer = its parent folder humanised. Input unit: a non-hidden file."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"RSI-CB: {root} is not a folder")
    result = SourceResult("rsi_cb")
    files = sorted(
        (path for path in root.rglob("*") if not path.is_dir()),
        key=lambda path: path.relative_to(root).as_posix(),
    )
    for path in files:
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        item_id = relative.as_posix()
        if path.suffix.lower() not in RSI_CB_EXTENSIONS:
            result.reject(item_id, "not_image")
        elif len(relative.parts) < 2:
            result.reject(item_id, "no_class")
        elif not path.exists():
            result.reject(item_id, "missing_media", "broken link")
        elif path.stat().st_size == 0:
            result.reject(item_id, "empty_media")
        else:
            result.add_row(id=item_id, media=item_id, answer=humanize_class_name(relative.parts[-2]))
    return result


def convert_coco_captions(captions_file: str | Path, images_dir: str | Path) -> SourceResult:
    """COCO `captions_*.json` -> one row per caption annotation whose image exists. Input unit: an annotation."""
    captions_file, images_dir = Path(captions_file), Path(images_dir)
    data = json.loads(captions_file.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{captions_file}: not a COCO captions file (no `images` list)")
    if not isinstance(data.get("annotations"), list):
        raise ValueError(f"{captions_file}: not a COCO captions file (no `annotations` list)")
    match = re.search(r"(train|val|test)", captions_file.stem)
    split = match.group(1) if match else ""
    images: dict = {}
    for image in data["images"]:
        images.setdefault(image.get("id"), image.get("file_name") or "")
    exists: dict[str, bool] = {}
    result = SourceResult("coco_captions")
    seen: set[str] = set()
    for index, annotation in enumerate(data["annotations"]):
        raw_id = annotation.get("id")
        item_id = str(raw_id) if raw_id is not None else f"#{index}"
        if item_id in seen:
            result.reject(item_id, "duplicate_id")
            continue
        seen.add(item_id)
        if annotation.get("image_id") not in images:
            result.reject(item_id, "unknown_image", f"image_id={annotation.get('image_id')}")
            continue
        caption = normalize_text(annotation.get("caption"))
        if not caption:
            result.reject(item_id, "empty_answer")
            continue
        file_name = images[annotation["image_id"]]
        if file_name not in exists:
            exists[file_name] = bool(file_name) and (images_dir / file_name).is_file()
        if not exists[file_name]:
            result.reject(item_id, "missing_media", file_name)
            continue
        result.add_row(id=item_id, media=file_name, answer=caption, source_split=split)
    return result


def sample_rows(rows: Sequence[dict], max_rows: int, seed: int, source: str) -> list[dict]:
    """A seeded uniform sample of `max_rows` rows, kept in their original order (all rows when `max_rows` <= 0)."""
    if max_rows <= 0 or len(rows) <= max_rows:
        return list(rows)
    rng = random.Random(f"{seed}:{source}")
    return [rows[index] for index in sorted(rng.sample(range(len(rows)), max_rows))]


# ----------------------------------------------------------------------------------------------------------- card


def _answer_words(answer: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", answer.lower())


def _length_summary(rows: Sequence[dict]) -> list:
    lengths = sorted(len(row["answer"].split()) for row in rows)
    if not lengths:
        return ["-"] * 5
    p90 = lengths[max(0, math.ceil(0.9 * len(lengths)) - 1)]
    return [lengths[0], f"{statistics.median(lengths):g}", f"{statistics.fmean(lengths):.1f}", p90, lengths[-1]]


def _top_words(rows: Sequence[dict], count: int = 10) -> str:
    counter = Counter(word for row in rows for word in _answer_words(row["answer"]) if word not in STOPWORDS)
    top = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:count]
    return ", ".join(f"{word} ({n})" for word, n in top) or "-"


def build_card_body(results: dict[str, SourceResult], kept: dict[str, list[dict]], args) -> str:
    """The markdown body of the card: what the data is, the schema, sampling, statistics, rejects, licences."""
    included = [source for source in SOURCES if source in results]
    skipped = [source for source in SOURCES if source not in results]
    total = sum(len(rows) for rows in kept.values())
    parts = [
        "# Sherlock stage-1 pre-tuning data",
        "Spatial pre-tuning data of Sherlock (video abnormal event extraction, Video-LLaVA + spatial experts, "
        "arXiv 2502.18863): public datasets converted into (media, instruction, answer) rows by "
        "`sherlock-build-pretune`. Media are referenced by path relative to each source's root and are not part of "
        "this dataset: fetch the sources from their owners.",
        "## Sources",
        markdown_table(
            ["source", "config", "included", "media", "instruction", "answer"],
            [
                [
                    SOURCE_NAMES[source],
                    f"`{source}`",
                    "yes" if source in results else "no (not given)",
                    MEDIA_TYPES[source],
                    f"`{INSTRUCTIONS[source]}`",
                    {
                        "humanml3d": "a caption of the motion (one row per caption)",
                        "ref_l4": "the referring expression",
                        "rsi_cb": "the scene class, humanised",
                        "coco_captions": "a caption of the image (one row per caption)",
                    }[source],
                ]
                for source in SOURCES
            ],
        ),
        f"Included: {', '.join(SOURCE_NAMES[s] for s in included) or 'none'}. "
        f"Skipped (not given): {', '.join(SOURCE_NAMES[s] for s in skipped) or 'none'}.",
        f"In Ref-L4's instruction `{REGION_PLACEHOLDER}` is replaced by the box normalised by the image size, clipped "
        "to [0, 1], written `[x1, y1, x2, y2]` with three decimals (e.g. "
        f"`{region_instruction([0.255, 0.254, 0.473, 0.813])}`); `regions` holds the same numbers. Boxes overshooting "
        f"the image by at most {BOX_TOLERANCE_PX:g} px are clipped, larger overshoots are rejected.",
        "## Configs",
        f"One split, `{SPLIT}`, per config (stage 1 trains on all rows; the source's split is in `source_split`). "
        f"`{ALL_CONFIG}` (the default) is the concatenation of "
        + ", ".join(f"`{s}`" for s in included)
        + " in that order, reading the same parquet files.",
        "```python\nfrom datasets import load_dataset\n\n"
        f'pretune = load_dataset("<repo or folder>", split="{SPLIT}")  # all sources\n'
        f'regions = load_dataset("<repo or folder>", "ref_l4", split="{SPLIT}")\n```',
        "## Schema",
        markdown_table(["field", "type", "meaning"], [[f"`{n}`", t, m] for n, t, m in SCHEMA_DOC]),
        "## Sampling",
        (
            f"At most {args.max_per_source} rows per source: a uniform sample seeded with "
            f'`random.Random(f"{{seed}}:{{source}}")`, seed {args.seed}, kept in source order.'
            if args.max_per_source > 0
            else "No cap (`--max-per-source` <= 0): every row is kept."
        ),
        markdown_table(
            ["source", "available", "kept"],
            [[SOURCE_NAMES[s], len(results[s].rows), len(kept[s])] for s in included],
        ),
        "## Statistics",
        f"{total} rows in all.",
        "Rows per source and source split:",
        markdown_table(
            ["source", "source_split", "rows"],
            [
                [SOURCE_NAMES[s], split or "(none)", n]
                for s in included
                for split, n in sorted(Counter(row["source_split"] for row in kept[s]).items())
            ],
        ),
        "Answer length in words:",
        markdown_table(
            ["source", "min", "median", "mean", "p90", "max"],
            [[SOURCE_NAMES[s], *_length_summary(kept[s])] for s in included],
        ),
        "Most frequent answer words (lower case, common function words left out):",
        markdown_table(["source", "top words"], [[SOURCE_NAMES[s], _top_words(kept[s])] for s in included]),
    ]
    notes = [[SOURCE_NAMES[s], note, n] for s in included for note, n in results[s].notes.items()]
    if notes:
        parts += ["Notes:", markdown_table(["source", "note", "count"], notes)]
    rejects = Counter((s, reject["reason"]) for s in included for reject in results[s].rejects)
    parts += [
        "## Rejects",
        f"Every input that did not become a row is in `rejects.jsonl` (`source`, `id`, `reason`, `detail`): "
        f"{sum(rejects.values())} in all.",
        markdown_table(
            ["source", "inputs", "rows", "rejected"],
            [[SOURCE_NAMES[s], results[s].inputs, len(results[s].rows), len(results[s].rejects)] for s in included],
        ),
        markdown_table(
            ["source", "reason", "count", "meaning"],
            [
                [SOURCE_NAMES[s], f"`{r}`", n, REJECT_REASONS[r]]
                for (s, r), n in sorted(rejects.items(), key=lambda item: (SOURCES.index(item[0][0]), item[0][1]))
            ]
            or [["-", "-", 0, "-"]],
        ),
        "## Licences",
        "This dataset holds annotations of other datasets; each keeps its licence:",
        "\n".join(f"- {SOURCE_NAMES[s]}: {SOURCE_LICENSES[s]}" for s in SOURCES),
    ]
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------------------- build


@dataclass
class PretuneArguments:
    """Arguments of `sherlock-build-pretune`."""

    output_dir: str = field(metadata={"help": "Folder to write the dataset into (parquet, README.md, rejects)."})
    humanml3d_dir: str | None = field(
        default=None, metadata={"help": "HumanML3D root (train.txt, val.txt, test.txt, texts/, new_joints/)."}
    )
    ref_l4_dir: str | None = field(
        default=None,
        metadata={
            "help": "Ref-L4 root (ref-l4-*.parquet + images/) or one annotation file (.parquet/.json/.jsonl).",
            "aliases": ["--ref-l4-file", "--ref_l4_file"],
        },
    )
    rsi_cb_dir: str | None = field(
        default=None, metadata={"help": "RSI-CB root (<category>/<class>/<image> or <class>/<image>)."}
    )
    coco_captions_file: str | None = field(
        default=None, metadata={"help": "COCO captions JSON (annotations/captions_train2017.json)."}
    )
    coco_images_dir: str | None = field(default=None, metadata={"help": "Folder of the COCO images (train2017/)."})
    max_per_source: int = field(
        default=DEFAULT_MAX_PER_SOURCE, metadata={"help": "Rows kept per source (paper 20000); <= 0 keeps all."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the per-source sampling."})
    rows_per_shard: int = field(default=DEFAULT_ROWS_PER_SHARD, metadata={"help": "Rows per parquet shard."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Upload the folder to this dataset repo id."})
    hub_endpoint: str | None = field(default=None, metadata={"help": "Hub endpoint (default: HF_ENDPOINT / hf.co)."})
    hub_token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo private."})


def convert_sources(args: PretuneArguments) -> dict[str, SourceResult]:
    """Run the converter of every given source (in `SOURCES` order)."""
    if (args.coco_captions_file is None) != (args.coco_images_dir is None):
        raise ValueError("COCO captions need both --coco-captions-file and --coco-images-dir")
    results = {}
    if args.humanml3d_dir is not None:
        if not Path(args.humanml3d_dir).is_dir():
            raise FileNotFoundError(f"HumanML3D: {args.humanml3d_dir} is not a folder")
        results["humanml3d"] = convert_humanml3d(args.humanml3d_dir)
    if args.ref_l4_dir is not None:
        results["ref_l4"] = convert_ref_l4(args.ref_l4_dir)
    if args.rsi_cb_dir is not None:
        results["rsi_cb"] = convert_rsi_cb(args.rsi_cb_dir)
    if args.coco_captions_file is not None:
        if not Path(args.coco_images_dir).is_dir():
            raise FileNotFoundError(f"COCO: {args.coco_images_dir} is not a folder")
        results["coco_captions"] = convert_coco_captions(args.coco_captions_file, args.coco_images_dir)
    if not results:
        raise ValueError(
            "no source given: pass at least one of --humanml3d-dir, --ref-l4-dir, --rsi-cb-dir, --coco-captions-file"
        )
    for result in results.values():
        if len(result.rows) + len(result.rejects) != result.inputs:  # the converters' bookkeeping
            raise RuntimeError(f"{result.source}: rows + rejects != inputs")
    return results


def build_pretune(args: PretuneArguments) -> dict:
    """Convert, sample, write the parquet configs, the card and the rejects; push if asked. Returns a summary."""
    results = convert_sources(args)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    features = pretune_features()
    kept, configs = {}, []
    for source in SOURCES:
        if source not in results:
            stale = output_dir / source  # a config of an earlier build that this one does not have
            if stale.is_dir() and all(path.suffix == ".parquet" for path in stale.iterdir()):
                shutil.rmtree(stale)
            continue
        kept[source] = sample_rows(results[source].rows, args.max_per_source, args.seed, source)
        paths = write_split(kept[source], features, output_dir, source, SPLIT, rows_per_shard=args.rows_per_shard)
        configs.append(ConfigFiles(source, {SPLIT: paths}))
        logger.info(
            "%s: %d available -> %d kept, %d rejected",
            source,
            len(results[source].rows),
            len(kept[source]),
            len(results[source].rejects),
        )
    everything = [path for config in configs for path in config.splits[SPLIT]]
    configs.insert(0, ConfigFiles(ALL_CONFIG, {SPLIT: everything}, default=True))
    header = card_header(
        configs,
        license="other",
        pretty_name="Sherlock stage-1 pre-tuning data",
        extra={"language": ["en"], "tags": ["sherlock", "video-llava", "instruction-tuning", "pre-tuning"]},
    )
    write_card(output_dir, header, build_card_body(results, kept, args))
    write_rejects(
        output_dir, [reject for source in SOURCES if source in results for reject in results[source].rejects]
    )
    summary = {
        "output_dir": str(output_dir),
        "configs": [config.name for config in configs],
        "available": {source: len(result.rows) for source, result in results.items()},
        "kept": {source: len(rows) for source, rows in kept.items()},
        "rejected": {source: len(result.rejects) for source, result in results.items()},
    }
    if args.push_to_hub:
        summary["commit_url"] = push_dataset_folder(
            output_dir,
            args.push_to_hub,
            token=args.hub_token,
            endpoint=args.hub_endpoint,
            private=args.hub_private,
            commit_message="Upload Sherlock stage-1 pre-tuning data",
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    """Console script `sherlock-build-pretune`."""
    return run_builder(
        "sherlock-build-pretune",
        PretuneArguments,
        build_pretune,
        lambda summary: json.dumps(summary, indent=2, sort_keys=True),
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
