"""What a tier list must be before it replaces the one in place."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from loyalty.errors import ValidationFailed

MAX_TIERS = 50
MAX_RANK = 1_000_000
MAX_QUALIFYING_POINTS = 10**12
MAX_BENEFITS_CHARS = 10_000
CODE_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
CODE_MAX = 32
NAME_MAX = 100
FIELDS = ("code", "name", "rank", "qualifying_points", "benefits")


def _text_error(value: Any, *, pattern: re.Pattern | None, maximum: int) -> str | None:
    if not isinstance(value, str):
        return "Not a string."
    if not value.strip():
        return "Required."
    if len(value) > maximum:
        return f"At most {maximum} characters."
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "One line, without control characters."
    if pattern is not None and not pattern.match(value):
        return "Lower-case letters and digits, words joined by - or _ (such as gold or gold-plus)."
    return None


def _whole_number_error(value: Any, *, maximum: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "Not a whole number."
    if not 0 <= value <= maximum:
        return f"From 0 to {maximum}."
    return None


def _item_errors(item: Any) -> dict[str, list[str]]:
    if not isinstance(item, dict):
        return {"_schema": ["A tier is an object {code, name, rank, qualifying_points, benefits}."]}
    errors: dict[str, list[str]] = {}
    for field in sorted(set(item) - set(FIELDS)):
        errors[field] = ["Unknown field."]
    for field in ("code", "name", "rank", "qualifying_points"):
        if field not in item:
            errors[field] = ["Required."]
    checks = {
        "code": lambda v: _text_error(v, pattern=CODE_PATTERN, maximum=CODE_MAX),
        "name": lambda v: _text_error(v, pattern=None, maximum=NAME_MAX),
        "rank": lambda v: _whole_number_error(v, maximum=MAX_RANK),
        "qualifying_points": lambda v: _whole_number_error(v, maximum=MAX_QUALIFYING_POINTS),
    }
    for field, check in checks.items():
        if field in item and (message := check(item[field])):
            errors[field] = [message]
    benefits = item.get("benefits", {})
    if not isinstance(benefits, dict):
        errors["benefits"] = ["A JSON object."]
    elif len(json.dumps(benefits, ensure_ascii=False)) > MAX_BENEFITS_CHARS:
        errors["benefits"] = [f"At most {MAX_BENEFITS_CHARS} characters of JSON."]
    return errors


def check_tiers(items: Sequence[Any]) -> list[dict[str, Any]]:
    """The tiers as they will be stored, lowest rank first; ``ValidationFailed`` naming each bad field.

    Errors are keyed by the position of the tier in the list given. Codes and
    ranks are unique, and qualifying points rise strictly with rank (the lowest
    tier may need 0: every member holds it from enrolment).
    """
    if not isinstance(items, list | tuple):
        raise ValidationFailed("The tiers are a list.", errors={"_schema": ["A list of tiers."]})
    if len(items) > MAX_TIERS:
        raise ValidationFailed(f"At most {MAX_TIERS} tiers.", errors={"_schema": [f"At most {MAX_TIERS} tiers."]})
    errors: dict[str, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        if item_errors := _item_errors(item):
            errors[str(index)] = item_errors
    if errors:
        raise ValidationFailed("The tier list is not valid: see errors for each tier.", errors=errors)

    seen_codes: dict[str, int] = {}
    seen_ranks: dict[int, int] = {}
    for index, item in enumerate(items):
        if item["code"] in seen_codes:
            errors.setdefault(str(index), {})["code"] = [f"Tier {seen_codes[item['code']]} has this code too."]
        seen_codes.setdefault(item["code"], index)
        if item["rank"] in seen_ranks:
            errors.setdefault(str(index), {})["rank"] = [f"Tier {seen_ranks[item['rank']]} has this rank too."]
        seen_ranks.setdefault(item["rank"], index)
    if not errors:
        ranked = sorted(enumerate(items), key=lambda pair: pair[1]["rank"])
        for (_, lower), (index, higher) in pairwise(ranked):
            if higher["qualifying_points"] <= lower["qualifying_points"]:
                errors[str(index)] = {
                    "qualifying_points": [
                        f"Must be more than {lower['qualifying_points']}, the qualifying points of "
                        f"{lower['code']!r}, which ranks below it."
                    ]
                }
    if errors:
        raise ValidationFailed("The tier list is not valid: see errors for each tier.", errors=errors)
    return sorted(
        (
            {
                "code": item["code"],
                "name": item["name"].strip(),
                "rank": item["rank"],
                "qualifying_points": item["qualifying_points"],
                "benefits": item.get("benefits") or {},
            }
            for item in items
        ),
        key=lambda tier: tier["rank"],
    )
