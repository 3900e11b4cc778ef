"""Reading query plans (``explain``) in tests that assert which index a query uses."""

from __future__ import annotations

from typing import Any


def stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stage of a plan tree, outermost first."""
    found = [plan]
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if child:
            found += stages(child)
    return found


def winning_stages(explained: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stage of an ``explain`` answer's winning plan (MongoDB 7+ nests it under
    ``queryPlan``)."""
    winning = explained["queryPlanner"]["winningPlan"]
    return stages(winning.get("queryPlan", winning))
