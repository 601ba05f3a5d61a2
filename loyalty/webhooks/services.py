"""Outgoing webhooks: events recorded with the change that causes them, delivered after it commits.

``emit_event`` is called in the transaction of the change (an enrolment, a
purchase, a return, a redemption, a tier change). When a merchant named for the
event has a live subscription to its type, it writes the event (its exact JSON
body), one delivery per subscription, and an outbox message; all of it commits
or rolls back with the change, so a change that is rolled back sends nothing,
and one that commits is delivered even if Redis was down at the time. With no
subscription it writes nothing: one indexed read is all an event costs then.

After the commit the outbox hands each delivery to an RQ job
(``loyalty.webhooks.jobs.deliver``) on the ``webhooks`` queue, which makes one
attempt outside any transaction and records it; a failed attempt is retried by
RQ with exponential backoff (``rq.Retry``) until ``WEBHOOK_MAX_ATTEMPTS``.
Delivery is at least once: a receiver drops a repeated ``Loyalty-Event-Id``.

The subscriptions themselves (create, list, delete, rotate, the delivery log and
redelivery) are in ``subscriptions.py`` and re-exported here.
"""

from __future__ import annotations

from loyalty.webhooks.sending import DELIVERY_STATUSES as DELIVERY_STATUSES
from loyalty.webhooks.sending import EVENT_TYPES as EVENT_TYPES
from loyalty.webhooks.sending import emit_event as emit_event
from loyalty.webhooks.sending import emit_events as emit_events
from loyalty.webhooks.subscriptions import create_subscription as create_subscription
from loyalty.webhooks.subscriptions import delete_subscription as delete_subscription
from loyalty.webhooks.subscriptions import event_payload as event_payload
from loyalty.webhooks.subscriptions import get_delivery as get_delivery
from loyalty.webhooks.subscriptions import get_subscription as get_subscription
from loyalty.webhooks.subscriptions import list_deliveries as list_deliveries
from loyalty.webhooks.subscriptions import list_subscriptions as list_subscriptions
from loyalty.webhooks.subscriptions import redeliver as redeliver
from loyalty.webhooks.subscriptions import rotate_secret as rotate_secret
