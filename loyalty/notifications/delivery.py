"""Pluggable delivery of notifications.

A backend is any object with ``name`` and ``send(channel, recipient, subject,
body)``. ``log`` (the default) writes the message to the log; the delivered
notifications are listed at the admin endpoint. Production sets
``NOTIFICATION_BACKEND`` to a dotted path of its own backend class.
"""

from __future__ import annotations

import importlib
import logging
from typing import Protocol

log = logging.getLogger("loyalty.notifications")


class Backend(Protocol):
    name: str

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None: ...


class LogBackend:
    name = "log"

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        log.info("notification via %s to %s: %s", channel, _mask(recipient), subject)


def _mask(recipient: str) -> str:
    # Logs are not a place for personal data.
    if "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{recipient[-3:]}"


_backend: Backend = LogBackend()


def configure(spec: str | None) -> None:
    """Select the backend: ``log`` or ``package.module.ClassName``."""
    global _backend
    if not spec or spec == "log":
        _backend = LogBackend()
        return
    module_name, _, class_name = spec.rpartition(".")
    _backend = getattr(importlib.import_module(module_name), class_name)()


def backend() -> Backend:
    return _backend
