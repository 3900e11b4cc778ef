"""Reading import files (``cli/rows.py``): CSV columns as the create options, line numbers as
the file has them, and message ids that depend only on the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from invoicebus.cli.fields import field_options
from invoicebus.cli.rows import Format, count, detect, file_hash, message_id, read
from invoicebus_contracts import CreateCustomer, CreateItem


def rows(path: Path, model: type[CreateItem] | type[CreateCustomer]) -> list[tuple[int, object]]:
    fmt = detect(path, None)
    return [
        (row.line, json.loads(row.body) if row.body else row.problem)
        for row in read(path, fmt, field_options(model))
    ]


def test_csv_cells_become_the_body_the_options_would_make(tmp_path: Path) -> None:
    file = tmp_path / "items.csv"
    file.write_text(
        "name,price,tax-rate,tax_class,metadata,metadata.sku,unit\n"
        "Cortado,2.50,22;9.5,,a=1,C-1,cup\n"
        "\n"
        '"Long\nname",0.1,,standard,,,\n'
        "Bad,two,,,,,\n"
    )
    assert rows(file, CreateItem) == [
        (2, {"name": "Cortado", "price": 2.5,
             "taxes": [{"rate": 22}, {"rate": 9.5}], "metadata": {"a": "1", "sku": "C-1"},
             "unit": "cup"}),
        (4, {"name": "Long\nname", "price": 0.1, "taxes": [{"classification": "standard"}]}),
        (6, "'two' is not a number"),
    ]  # fmt: skip
    assert count(file, Format.CSV) == 3


def test_json_lines_are_sent_as_written_with_their_line_numbers(tmp_path: Path) -> None:
    file = tmp_path / "c.jsonl"
    file.write_text('{"name": "A", "price": 0.10}\n\n{"name": "B"}\n')
    read_rows = list(read(file, Format.JSONL, []))
    assert [(r.line, r.body) for r in read_rows] == [
        (1, b'{"name": "A", "price": 0.10}'),
        (3, b'{"name": "B"}'),
    ]


def test_an_unknown_column_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    file = tmp_path / "c.csv"
    file.write_text("name,colour\nAda,red\n")
    with pytest.raises(typer.BadParameter, match="unknown column 'colour'"):
        rows(file, CreateCustomer)


def test_the_format_comes_from_the_suffix_or_is_asked_for(tmp_path: Path) -> None:
    assert detect(tmp_path / "a.CSV", None) is Format.CSV
    assert detect(tmp_path / "a.ndjson", None) is Format.JSONL
    assert detect(tmp_path / "a.txt", Format.CSV) is Format.CSV
    with pytest.raises(typer.BadParameter, match="--format"):
        detect(tmp_path / "a.txt", None)


def test_message_ids_depend_on_the_content_and_the_line_only(tmp_path: Path) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("name\nAda\n")
    two.write_text("name\nAda\n")
    assert file_hash(one) == file_hash(two)
    assert message_id(file_hash(one), 2) == f"import-{file_hash(one)}-2"
    two.write_text("name\nAda\nGrace\n")
    assert file_hash(one) != file_hash(two)  # another file: another import
