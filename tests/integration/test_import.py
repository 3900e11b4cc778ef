"""``invoicebus import``: files of rows as real CLI processes send them to the real services,
refusals reported by line, and runs interrupted (killed, Ctrl-C) then run again creating each
row exactly once."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from invoicebus.settings import Settings
from tests.integration.test_cli import INVOICEBUS, cli_env, invoicebus

pytestmark = pytest.mark.usefixtures("command_service")


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_csv_rows_are_created_refusals_reported_by_line_and_a_rerun_adds_nothing(
    settings: Settings, entity: dict[str, Any], db: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    rows = [[f"{tag} {i}", f"c{i}@example.com", "Ljubljana", str(i), "si"] for i in range(20)]
    rows[4][1] = "not-an-email"  # line 6: refused locally
    rows[9][4] = "XX"  # line 11
    rows[12][2] = "Maribor\nCenter"  # a quoted cell over two lines: later rows move down one
    file = write_csv(
        tmp_path / "customers.csv", ["name", "email", "city", "metadata.crm", "country-code"], rows
    )
    args = ("--entity", entity["id"], "import", "customers", str(file))

    first = await invoicebus(settings, *args)
    assert first.code == 1, first.stderr  # some rows were refused
    assert "20 of 20 row(s)" in first.stderr and "18 created" in first.stderr
    assert "2 refused" in first.stderr
    refused = report(tmp_path / "customers.csv.refused.jsonl")
    assert sorted(
        (r["line"], r["error"]["code"], r["error"]["errors"][0]["loc"]) for r in refused
    ) == [
        (6, "validation_error", ["email"]),
        (11, "validation_error", ["country_code"]),
    ]
    stored = await db.customers.find({"name": {"$regex": f"^{tag} "}}).to_list()
    assert len(stored) == 18
    by_name = {doc["name"]: doc for doc in stored}
    assert by_name[f"{tag} 0"]["metadata"] == {"crm": "0"}
    assert by_name[f"{tag} 0"]["country_code"] == "SI"
    assert by_name[f"{tag} 12"]["city"] == "Maribor\nCenter"
    assert {doc["entity_id"] for doc in stored} == {entity["id"]}

    again = await invoicebus(settings, *args)
    assert again.code == 1, again.stderr
    assert await db.customers.count_documents({"name": {"$regex": f"^{tag} "}}) == 18
    assert report(tmp_path / "customers.csv.refused.jsonl") == refused


async def test_json_lines_of_items_with_refusals_from_the_service(
    settings: Settings, entity: dict[str, Any], db: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    file = tmp_path / "items.jsonl"
    file.write_text(
        json.dumps({"name": f"{tag} cortado", "price": 2, "taxes": [{"rate": 22}]}) + "\n"
        "\n"  # blank lines are skipped, and still count as lines
        + json.dumps({"name": f"{tag} tea", "price": 1.2, "taxes": [{"classification": "no"}]})
        + "\n{not json\n"
    )
    result = await invoicebus(settings, "--entity", entity["id"], "import", "items", str(file))
    assert result.code == 1
    refused = {r["line"]: r for r in report(tmp_path / "items.jsonl.refused.jsonl")}
    assert refused[3]["status"] == 422 and refused[3]["error"]["code"] == "tax_not_found"
    assert refused[4]["error"]["errors"][0]["loc"] == ["body"]
    [item] = await db.items.find({"name": {"$regex": f"^{tag} "}}).to_list()
    assert item["name"] == f"{tag} cortado"


async def test_an_import_killed_then_interrupted_then_run_again_creates_each_row_once(
    settings: Settings, entity: dict[str, Any], db: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    total = 300
    file = tmp_path / "many.jsonl"
    file.write_text("".join(json.dumps({"name": f"{tag} {i:04d}"}) + "\n" for i in range(total)))
    args = (
        INVOICEBUS,
        "--entity",
        entity["id"],
        "import",
        "customers",
        str(file),
        "--window",
        "16",
    )
    query = {"name": {"$regex": f"^{tag} "}}

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=cli_env(settings),
        )  # fmt: skip

    async def once_past(count: int) -> int:
        for _ in range(600):
            stored = await db.customers.count_documents(query)
            if stored >= count:
                return int(stored)
            await asyncio.sleep(0.1)
        raise AssertionError(f"fewer than {count} rows were ever created")

    crashed = await start()
    await once_past(60)
    crashed.kill()  # a crash: no summary, no goodbye
    await crashed.wait()
    after_crash = await db.customers.count_documents(query)
    assert 60 <= after_crash < total

    interrupted = await start()
    await once_past(after_crash + 30)
    interrupted.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(interrupted.communicate(), 60)
    assert interrupted.returncode == 130
    assert "run the same import again to resume" in err.decode()
    assert await db.customers.count_documents(query) < total

    last = await start()
    _, err = await asyncio.wait_for(last.communicate(), 300)
    assert last.returncode == 0, err.decode()
    assert f"{total} of {total} row(s)" in err.decode()
    names = await db.customers.distinct("name", query)
    assert len(names) == total
    assert await db.customers.count_documents(query) == total  # each row exactly once
