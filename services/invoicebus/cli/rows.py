"""The rows of an import file, each with its line number and its command body.

Two formats: JSON lines (each line is a command body, sent as it is written), and CSV with a
header row whose columns are the create command's options (``name``, ``email``, ``price``,
``tax_rate``...; ``fields`` derives them from the contract), plus ``metadata.KEY`` columns. A
cell of a repeatable option holds its values separated by ``;``; an empty cell is no value.

A row's line number is where it starts in the file (the header is line 1), so the command's
``message_id`` (``import-<file hash>-<line>``) is the same on every run over the same file:
running an import again after a crash creates nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from .fields import FieldOption

#: What separates the values of a repeatable option in a CSV cell.
LIST_SEPARATOR = ";"
METADATA_COLUMN = "metadata."


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


#: File suffixes and the format they mean.
SUFFIXES = {".csv": Format.CSV, ".jsonl": Format.JSONL, ".ndjson": Format.JSONL}


@dataclass(frozen=True)
class Row:
    line: int
    #: The command body, or None when the row could not be read (``problem`` says why).
    body: bytes | None
    problem: str | None = None


def detect(path: Path, given: Format | None) -> Format:
    if given is not None:
        return given
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise typer.BadParameter(
            f"cannot tell the format of {path.name}: name it .csv or .jsonl, or give --format",
            param_hint="FILE",
        )
    return found


def file_hash(path: Path) -> str:
    """The file's content, hashed: part of every message id of an import of it."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def message_id(file_id: str, line: int) -> str:
    return f"import-{file_id}-{line}"


def count(path: Path, fmt: Format) -> int:
    """How many rows ``read`` will yield (for the progress bar's total)."""
    return sum(1 for _ in _records(path, fmt))


def read(path: Path, fmt: Format, options: Sequence[FieldOption]) -> Iterator[Row]:
    """The rows, read as they are iterated; a CSV header with an unknown column is refused
    here, at once, before anything is sent."""
    if fmt is Format.JSONL:
        return (Row(line, text.encode()) for line, text in _records(path, fmt))
    return _csv_rows(path, _columns(path, options))


def _csv_rows(path: Path, columns: list[tuple[str, FieldOption | str]]) -> Iterator[Row]:
    for line, values in _records(path, Format.CSV):
        try:
            yield Row(line, _csv_body(values, columns))
        except (typer.BadParameter, ValueError) as exc:
            yield Row(line, None, str(getattr(exc, "message", exc)))


def _records(path: Path, fmt: Format) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        if fmt is Format.JSONL:
            for line, text in enumerate(f, start=1):
                if text.strip():
                    yield line, text.strip()
            return
        reader = csv.reader(f)
        next(reader, None)  # the header
        start = reader.line_num + 1
        for values in reader:
            if any(v.strip() for v in values):
                yield start, values
            start = reader.line_num + 1


def _columns(path: Path, options: Sequence[FieldOption]) -> list[tuple[str, FieldOption | str]]:
    """Each header cell: its option, or the metadata key it fills; an unknown one is refused
    before anything is sent."""
    by_name = {option.param: option for option in options}
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    columns: list[tuple[str, FieldOption | str]] = []
    for cell in header:
        name = cell.strip()
        if name.startswith(METADATA_COLUMN) and len(name) > len(METADATA_COLUMN):
            columns.append((name, name[len(METADATA_COLUMN) :]))
        elif (option := by_name.get(name.replace("-", "_"))) is not None:
            columns.append((name, option))
        else:
            known = ", ".join([*by_name, f"{METADATA_COLUMN}KEY"])
            raise typer.BadParameter(
                f"unknown column {name!r}; columns are {known}", param_hint="FILE"
            )
    return columns


def _csv_body(values: list[str], columns: list[tuple[str, FieldOption | str]]) -> bytes:
    if len(values) > len(columns):
        raise ValueError(f"{len(values)} cells, but the header has {len(columns)} columns")
    body: dict[str, Any] = {}
    for (_, column), cell in zip(columns, values, strict=False):
        cell = cell.strip()
        if not cell:
            continue
        if isinstance(column, str):
            body.setdefault("metadata", {})[column] = cell
            continue
        given: Any = cell
        if column.repeated:
            given = [v.strip() for v in cell.split(LIST_SEPARATOR) if v.strip()]
        value = column.to_body(given)
        if column.member is not None:
            body.setdefault(column.field, []).extend({column.member: v} for v in value)
        elif isinstance(value, dict):  # metadata: its column and metadata.KEY columns add up
            body.setdefault(column.field, {}).update(value)
        else:
            body[column.field] = value
    from invoicebus_client import encode_body  # numbers stay exact, as the SDK sends them

    return encode_body(body)
