"""Dataclass arguments as argparse options, with the standard library only (so that `sherlock <command> --help`
answers at once, without importing transformers' `HfArgumentParser`).

Each field becomes `--field-name` (a field without default is required; `positional` names become positional
arguments); its help is `field(metadata={"help": ...})`, as for `HfArgumentParser`. Types: `bool` (a flag; one that
defaults to True also gets `--no-field-name`), `str`, `int`, `float`, their `| None` forms, and `list[str] | None`
(the option may be repeated).
"""

import argparse
import dataclasses
import types
import typing


class UsageError(ValueError):
    """A command line that cannot work as given (the commands exit with code 2)."""


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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


__all__ = ["UsageError", "add_dataclass_arguments", "one_line"]
