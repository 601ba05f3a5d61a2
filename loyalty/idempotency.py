"""Requests made once whatever the retries: a fingerprint of the body, and the answer first given."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def request_hash(body: Any) -> str:
    """A fingerprint of a request body's content (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """A receipt (as the exact JSON text first answered) and whether this is a replay of it."""

    receipt_json: str
    replayed: bool

    @property
    def receipt(self) -> dict[str, Any]:
        return json.loads(self.receipt_json)


def receipt_text(receipt: dict[str, Any]) -> str:
    """A receipt as the JSON text that is stored and answered, byte for byte, on every replay."""
    return json.dumps(receipt, ensure_ascii=False, separators=(", ", ": "))
