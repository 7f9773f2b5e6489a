"""The four sources of Sherlock's stage-1 pre-tuning data (`build_pretune`): their public annotation formats read
into rows (media, instruction, answer) and rejects with reasons, one converter per source, and the seeded sampling.
See `build_pretune` for the formats and the decisions."""

import json
import logging
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:  # imported where rows are written, so that `--help` stays fast
    import datasets


logger = logging.getLogger(__name__)

SOURCES = ("humanml3d", "ref_l4", "rsi_cb", "coco_captions")
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


def pretune_features() -> "datasets.Features":
    """The `datasets.Features` of a pre-tuning row (the same for every config)."""
    import datasets

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


__all__ = [
    "BOX_TOLERANCE_PX",
    "INSTRUCTIONS",
    "MEDIA_TYPES",
    "REGION_PLACEHOLDER",
    "REJECT_REASONS",
    "SOURCES",
    "SOURCE_NAMES",
    "SPLIT",
    "SourceResult",
    "convert_coco_captions",
    "convert_humanml3d",
    "convert_ref_l4",
    "convert_rsi_cb",
    "format_region",
    "humanize_class_name",
    "make_row",
    "normalize_box",
    "normalize_text",
    "parse_humanml3d_line",
    "pretune_features",
    "ref_l4_annotation_files",
    "region_instruction",
    "sample_rows",
]
