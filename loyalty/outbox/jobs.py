"""RQ entry points for the outbox. Jobs receive ids, never objects."""

from __future__ import annotations

from loyalty.db import unit_of_work
from loyalty.outbox import services


def run_message(message_id: str) -> bool:
    """Run one outbox message in its own transaction."""
    with unit_of_work() as session:
        return services.run_message(session, message_id)


def sweep() -> int:
    """Hand to RQ the messages that could not be enqueued when they were committed."""
    with unit_of_work() as session:
        return services.relay_pending(session)
