# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Cheap checks of a video input before any decoder (or model) is loaded: standard library only.

    check_video_file("clip.mp4")   # returns None, or raises VideoDecodeError("clip.mp4", reason)

The checks read at most a few hundred bytes and the top-level box headers of an mp4; they catch what needs no
decoder, with one precise reason each:

  * "no such file", "is a directory, not a video file", "cannot read the file (...)";
  * "empty file (0 bytes)";
  * "not a video: the file contains text" (printable UTF-8 in the first 512 bytes: no container starts like that);
  * "is an image, not a video (PNG)" (also JPEG, GIF, BMP, WebP, TIFF, HEIF / AVIF, recognised by their magic bytes);
  * "truncated (...)" / "incomplete mp4: no 'moov' index (...)" for an ISO-BMFF (mp4 / mov) file cut short.

A file that passes may still be unreadable (FFmpeg decides); `load_video` runs these same checks first, so a bad
file gets the same message from the command line and from the library. `VideoDecodeError` is defined here so that
the command line can catch it without importing numpy or transformers; `processing.video_sherlock` re-exports it.

This file ships to the Hub as remote code: standard library only (no numpy, no transformers), so that importing it
stays cheap.
"""

import codecs
import io
import os
import stat
import struct


_HEAD_BYTES = 512
# Top-level ISO-BMFF (mp4 / mov / 3gp) boxes: the truncation check only trusts box headers of these types.
_MP4_TOP_LEVEL_BOXES = {
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"moof", b"mfra", b"sidx", b"ssix", b"styp",
    b"pdin", b"meta", b"emsg", b"prft", b"pnot", b"junk", b"meco", b"PICT", b"udta", b"jP  ",
}  # fmt: skip
# Major brands of ISO-BMFF still images (HEIF / HEIC / AVIF): an `ftyp` box like a video's, but a picture.
_STILL_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"avif", b"avci"}
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


class VideoDecodeError(ValueError):
    """A video that cannot be loaded: missing, empty, not a video, truncated, without frames or of zero duration.

    `str(error)` is one line, "cannot load video <source>: <reason>"; `error.source` and `error.reason` hold the
    parts. The source is the path, or `<file object>`, `<bytes>`, `<array>` for in-memory inputs.
    """

    def __init__(self, source, reason):
        source, reason = _one_line(source), _one_line(reason)
        super().__init__(source, reason)  # args = (source, reason): pickles (DataLoader workers) and unpickles
        self.source, self.reason = source, reason

    def __str__(self):
        return f"cannot load video {self.source}: {self.reason}"


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _image_kind(head: bytes):
    """The image format whose magic bytes start `head` ("PNG", "JPEG", ...), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if (
        head[:2] == b"BM"
        and len(head) >= 18
        and head[6:10] == b"\x00\x00\x00\x00"  # reserved, always zero
        and struct.unpack("<I", head[14:18])[0] in _BMP_HEADER_SIZES
    ):
        return "BMP"
    if head[4:8] == b"ftyp" and head[8:12] in _STILL_IMAGE_BRANDS:
        return "HEIF/AVIF"
    return None


def _is_plain_text(head: bytes) -> bool:
    """Whether the first bytes of a file are printable UTF-8 text (a character cut at the end is allowed)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text) and all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _mp4_truncation(handle, size: int):
    """For an ISO-BMFF file (mp4 / mov, first box `ftyp`): why it is truncated, or None.

    Walks the top-level box headers (a few reads, no payload): a box that runs past the end of the file means the file
    was cut (this is how both a cut-off `moov`-last mp4 and a faststart mp4 with its frame data cut short look), and no
    `moov` box means the index was never written. Unknown box types stop the walk without a verdict.
    """
    offset, seen = 0, set()
    while offset + 8 <= size:
        handle.seek(offset)
        header = handle.read(16)
        box_size, box_type = struct.unpack(">I4s", header[:8])
        if offset == 0 and box_type != b"ftyp":
            return None
        if box_type not in _MP4_TOP_LEVEL_BOXES:
            return None
        if box_size == 1:
            if len(header) < 16:
                return f"truncated (the file ends inside the header of its '{box_type.decode()}' box)"
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - offset
        if box_size < 8:
            return None
        if offset + box_size > size:
            return (
                f"truncated (its '{box_type.decode()}' box at byte {offset} declares {box_size} bytes, but the "
                f"file ends {size - offset} bytes after its start)"
            )
        seen.add(box_type)
        offset += box_size
    if b"moov" not in seen:
        return "incomplete mp4: no 'moov' index (the file was cut off or never finalised)"
    return None


def _content_reason(head: bytes, size: int, handle):
    """Why data of `size` bytes starting with `head` is not a readable video (None when nothing is wrong that the
    header shows); `handle` is a seekable binary file positioned anywhere, for the mp4 box walk."""
    if size == 0:
        return "empty file (0 bytes)"
    kind = _image_kind(head)
    if kind is not None:
        return f"is an image, not a video ({kind})"
    if _is_plain_text(head):
        # caught before any decoder: FFmpeg would also fail, but only after printing its own error to stderr
        return "not a video: the file contains text"
    return _mp4_truncation(handle, size)


def stat_video_file(path) -> os.stat_result:
    """`os.stat(path)` of a video path, or `VideoDecodeError` ("no such file", "is a directory, not a video file",
    "cannot read the file (...)")."""
    path = os.fsdecode(os.fspath(path))
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise VideoDecodeError(path, "no such file") from exc
    except OSError as exc:  # permission denied on a parent, a name too long, a broken link loop, ...
        raise VideoDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise VideoDecodeError(path, "is a directory, not a video file")
    return info


def check_video_file(path) -> None:
    """Raise `VideoDecodeError` when `path` is plainly not a readable video; return None otherwise.

    Standard library only and cheap (a stat, the first 512 bytes, the top-level mp4 box headers): call it before
    loading a model. The reasons: "no such file", "is a directory, not a video file", "cannot read the file (...)",
    "empty file (0 bytes)", "not a video: the file contains text", "is an image, not a video (PNG)" (JPEG, GIF, BMP,
    WebP, TIFF, HEIF/AVIF alike), "truncated (...)", "incomplete mp4: no 'moov' index (...)". The error's source is
    the path as given (`os.fsdecode`d).
    """
    source = os.fsdecode(os.fspath(path))
    info = stat_video_file(source)
    try:
        with open(source, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
            reason = _content_reason(head, info.st_size, handle)
    except OSError as exc:
        raise VideoDecodeError(source, f"cannot read the file ({exc.strerror or exc})") from exc
    if reason is not None:
        raise VideoDecodeError(source, reason)


def check_video_bytes(data, source="<bytes>") -> None:
    """The content checks of `check_video_file` (empty, text, image, truncated mp4) for a video held in memory;
    `source` names it in the error ("<bytes>", "<file object>")."""
    data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    reason = _content_reason(bytes(data[:_HEAD_BYTES]), len(data), io.BytesIO(data))
    if reason is not None:
        raise VideoDecodeError(source, reason)


__all__ = ["VideoDecodeError", "check_video_bytes", "check_video_file", "stat_video_file"]
