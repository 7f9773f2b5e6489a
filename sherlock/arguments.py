"""Dataclass arguments as argparse options, with the standard library only (so that `sherlock <command> --help`
answers at once, without importing transformers' `HfArgumentParser`).

Each field becomes `--field-name` (a field without default is required; `positional` names become positional
arguments); its help is `field(metadata={"help": ...})`, as for `HfArgumentParser`. Types: `bool` (a flag; one that
defaults to True also gets `--no-field-name`), `str`, `int`, `float`, their `| None` forms, and `list[str] | None`
(the option may be repeated).

The checks that every command makes before it loads anything (`check_count`, `check_rate`, `check_device`,
`check_folder_option`) raise `UsageError` with one line naming the option, the same wording for every command.
"""

import argparse
import dataclasses
import math
import os
import re
import types
import typing


class UsageError(ValueError):
    """A command line that cannot work as given (the commands exit with code 2)."""


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# The most frames a video may be sampled into (= processing.video_sherlock.DEFAULT_MAX_FRAMES: each sampled frame is
# held decoded in memory and becomes `tokens_per_frame` tokens of the prompt).
MAX_FRAMES = 256
# The longest answer a command may ask for (Video-LLaVA's whole context is 4096 tokens).
MAX_NEW_TOKENS = 4096
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "npu", "hpu")


def check_count(option: str, value: int | None, maximum: int | None = None) -> None:
    """`--option` is None or a whole number from 1 to `maximum` (no upper bound when None); `UsageError` otherwise."""
    if value is None:
        return
    if maximum is not None and not 1 <= value <= maximum:
        raise UsageError(f"{option} must be between 1 and {maximum}, got {value}")
    if value < 1:
        raise UsageError(f"{option} must be >= 1, got {value}")


def check_rate(option: str, value: float | None, maximum: float | None = None) -> None:
    """`--option` is None or a positive finite number (at most `maximum`); `UsageError` otherwise."""
    if value is None:
        return
    if not (value > 0 and math.isfinite(value)) or (maximum is not None and value > maximum):
        bound = f"at most {maximum:g}" if maximum is not None else "finite"
        raise UsageError(f"{option} must be a positive number ({bound}), got {value}")


def check_folder_option(option: str, value: str | None) -> None:
    """`--option` is None or a path that is not a file (a folder, or nothing yet); `UsageError` otherwise."""
    if value is not None and os.path.isfile(os.path.expanduser(value)):
        raise UsageError(f"{option} {value!r} is a file, not a folder")


def check_device(device: str | None, option: str = "--device") -> None:
    """`--device` is None, `cpu`, or an accelerator this machine has (`cuda`, `cuda:N`, `mps`, `xpu`, ...);
    `UsageError` (one line) otherwise. torch is imported for an accelerator only (to ask whether it is there)."""
    if device is None:
        return
    match = re.fullmatch(r"([a-z]+)(?::(\d+))?", device.strip())
    if match is None or match.group(1) not in DEVICE_TYPES:
        raise UsageError(f"{option} {device!r} is not a device: give cpu, cuda, cuda:N, mps or xpu")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        return
    import torch

    if kind == "mps":
        available, count = torch.backends.mps.is_available(), 1
    else:
        module = getattr(torch, kind, None)
        available = module is not None and module.is_available()
        count = module.device_count() if available else 0
    if not available:
        raise UsageError(
            f"{option} {device}: this machine has no {kind.upper()} device (torch sees none): use {option} cpu"
        )
    if index is not None and int(index) >= count:
        raise UsageError(
            f"{option} {device}: this machine has {count} {kind} device(s), {kind}:0 to {kind}:{count - 1}"
        )


def _base_type(annotation):
    """`(type, is_list)` of a field annotation: `int | None` -> `(int, False)`, `list[str] | None` -> `(str, True)`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported argument type {annotation}")
        annotation = options[0]
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], True
    return annotation, False


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, positional: tuple[str, ...] = ()) -> None:
    """Add one option per field of the dataclass `cls` (module docstring)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind, is_list = _base_type(hints[field.name])
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = None
        help_text = field.metadata.get("help", "")
        if default not in (None, False) and not is_list:
            help_text = f"{help_text} (default: {default})" if help_text else f"default: {default}"
        if field.name in positional:
            parser.add_argument(field.name, type=kind, help=help_text)
        elif kind is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(
                f"--{field.name.replace('_', '-')}",
                dest=field.name,
                action=action,
                default=bool(default),
                help=help_text,
            )
        else:
            parser.add_argument(
                f"--{field.name.replace('_', '-')}",
                dest=field.name,
                type=kind,
                default=default,
                required=not has_default,
                action="append" if is_list else "store",
                help=help_text,
            )


__all__ = [
    "MAX_FRAMES",
    "MAX_NEW_TOKENS",
    "UsageError",
    "add_dataclass_arguments",
    "check_count",
    "check_device",
    "check_folder_option",
    "check_rate",
    "one_line",
]
