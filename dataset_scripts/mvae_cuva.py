"""Reading the CUVA annotation files and parsing their cells, for the M-VAE builder (`build_mvae`).

The files (see `SOURCE.md` and `LICENSE` of the shipped copy, `dataset_scripts/data/cuva/`): `annotations.xlsx`
(round-1 sheet = the data, round-2 sheet = a second annotator's type and moment), `Category.txt` (the `X1` codes),
`gt_*.json` (per-video free-text answers), `frame_size.json` and `splits.json`. A cell that cannot be parsed raises
`RowProblem` with a stable reason code (`REJECT_REASONS`) and a human detail; the builder turns it into a reject.
"""

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from processing.vocabulary_sherlock import CUVA_CLASS_TO_EVENT_TYPE


logger = logging.getLogger(__name__)

ROUND1_SHEET = "一轮标注"
ROUND2_SHEET = "二轮标注"
HEADER_ROWS = 1
SPLITS = ("train", "test")
CUVA_FILES = (
    "annotations.xlsx",
    "Category.txt",
    "gt_Descriptionv1.json",
    "gt_Causev1.json",
    "gt_Resultv1.json",
    "frame_size.json",
    "splits.json",
)
"""The CUVA files a build reads (their SHA-256 go into the card)."""

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

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_TYPE_CODE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*,\s*(\d+(?:\.\d+)?)\s*,?\s*$")
_DESCRIPTION_BRACKET = re.compile(r"\[([^\[\]]*)(?:\]|$)")
_SUB_CLIP = re.compile(r"^\s*\d+\s*-\s*\d+\s*$")
_MMSS = re.compile(r"^\d{4}$")


# ------------------------------------------------------------------------------------------------------------ reading


@dataclass
class CuvaRow:
    """One data row of an annotation sheet: its first `len(SHEET_COLUMNS)` cells (raw values, stripped strings or
    None). The sheet's later columns (`Annotator`, notes) are not read: nothing is built from them."""

    sheet_row: int
    video_id: object
    type_codes: str | None
    reason: str | None
    result: str | None
    moment: str | None
    description: str | None
    key_sentences: str | None


SHEET_COLUMNS = ("video_id", "type_codes", "reason", "result", "moment", "description", "key_sentences")
"""The columns `CuvaRow` reads, in the sheet's order (`video_id`, `X1`, `X2 reason`, `X2 result`, `X3 moment`,
`X3 description`, `X4 key sentences`)."""


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
        cells = list(cells) + [None] * (len(SHEET_COLUMNS) - len(cells))
        if all(_cell_text(cell) is None for cell in cells):  # every cell: a row with only later columns is data
            blanks += 1
            continue
        if isinstance(cells[0], str) and cells[0].strip().lower() == "example":
            examples += 1
            continue
        video_id = cells[0].strip() if isinstance(cells[0], str) else cells[0]
        rows.append(CuvaRow(number, video_id, *(_cell_text(cell) for cell in cells[1 : len(SHEET_COLUMNS)])))
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


@dataclass
class CuvaAnnotations:
    """What the builder reads from a CUVA folder (round 1 is the data; round 2 only for the agreement report)."""

    sheet: SheetContent
    round2: list[CuvaRow]
    categories: dict[str, str]
    splits: dict[str, str]
    gt: dict[str, dict[str, str]]
    frame_sizes: dict[str, dict]


def read_cuva(folder: str | os.PathLike) -> CuvaAnnotations:
    """Read the CUVA files of `folder` (`CUVA_FILES`)."""
    folder = Path(folder)
    return CuvaAnnotations(
        sheet=read_annotation_sheet(folder / "annotations.xlsx", ROUND1_SHEET),
        round2=read_annotation_sheet(folder / "annotations.xlsx", ROUND2_SHEET).rows,
        categories=read_categories(folder / "Category.txt"),
        splits=read_splits(folder / "splits.json"),
        gt={
            "description": read_gt_answers(folder / "gt_Descriptionv1.json"),
            "cause": read_gt_answers(folder / "gt_Causev1.json"),
            "result": read_gt_answers(folder / "gt_Resultv1.json"),
        },
        frame_sizes=json.loads((folder / "frame_size.json").read_text(encoding="utf-8")),
    )


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
    brackets = _BRACKET.findall(stripped)
    leftover = _BRACKET.sub("", stripped).strip()
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
    brackets = _BRACKET.findall(stripped)
    leftover = _BRACKET.sub("", stripped).strip()
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


__all__ = [
    "CUVA_FILES",
    "CuvaAnnotations",
    "REJECT_REASONS",
    "ROUND1_SHEET",
    "ROUND2_SHEET",
    "SHEET_COLUMNS",
    "SPLITS",
    "CuvaRow",
    "RowProblem",
    "Segment",
    "SheetContent",
    "mmss_to_seconds",
    "pair_types_with_segments",
    "parse_descriptions",
    "parse_moments",
    "parse_type_codes",
    "parse_video_id",
    "read_annotation_sheet",
    "read_cuva",
    "read_categories",
    "read_gt_answers",
    "read_splits",
]
