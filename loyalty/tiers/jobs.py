"""RQ entry points of the tier review: the daily schedule and ``flask --app wsgi tiers review``."""

from __future__ import annotations

import logging
from datetime import datetime

from loyalty.db import unit_of_work, utcnow
from loyalty.tiers.review import BATCH_SIZE, ReviewCounts, review_batch

log = logging.getLogger(__name__)


def review_tiers(batch_size: int = BATCH_SIZE, now: datetime | None = None) -> dict[str, int]:
    """Review every active member's tier, one committed batch at a time; return the counts."""
    now = now or utcnow()
    totals = ReviewCounts()
    after = ""
    while True:
        with unit_of_work() as session:
            counts, last_id = review_batch(session, after=after, now=now, limit=batch_size)
        totals.add(counts)
        if last_id is None:
            break
        after = last_id
    log.info("tier review: %s", totals.as_dict())
    return totals.as_dict()
