"""Several queued sales in one request: ``POST /purchases/batch`` (docs/purchases.md).

The service records the sales of a batch in order, each in its own
transaction, and answers each one as ``POST /purchases`` would have; these
helpers build the request from the queued bodies as they are, and read the
answer back, refusing one that does not match what was sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from pos_plugins.client.queue import Row

BATCH_PATH = "/purchases/batch"
MAX_BATCH = 100  # the service's limit per request


def batch_body(rows: Sequence[Row]) -> bytes:
    """The request body: each sale's queued bytes unchanged, so the service fingerprints each as sent alone."""
    return b'{"purchases":[' + b",".join(row.body for row in rows) + b"]}"


def read_results(answer: object, external_ids: Sequence[str]) -> list[dict] | None:
    """The per-sale results of the sales sent, in order; None if the answer is not one result per sale sent."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != len(external_ids):
        return None
    for external_id, result in zip(external_ids, results, strict=True):
        if not isinstance(result, dict) or result.get("external_id") != external_id:
            return None
        status = result.get("status")
        if not isinstance(status, int) or isinstance(status, bool):
            return None
        if status < 300 and not isinstance(result.get("receipt"), dict):
            return None
    return results
