"""Sending a webhook: which targets are safe, how a body is signed, and one HTTP attempt.

A target is an ``https`` URL whose host is a public address: never a private,
loopback or link-local one, so that a subscription cannot make the service call
into the operator's own network. ``WEBHOOK_ALLOW_LOCALHOST`` (tests and the demo)
also allows ``http`` and ``https`` to localhost and 127.0.0.0/8 (or ``::1``), and
nothing else. The host is checked when the subscription is saved and resolved
again before each attempt; redirects are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from loyalty.errors import ValidationFailed
from loyalty.text import has_control_characters

SIGNATURE_HEADER = "Loyalty-Signature"
USER_AGENT = "coalition-loyalty-webhooks/1"
MAX_URL_LENGTH = 2000
LONGEST_INTERVAL = 6 * 3600
_LOCAL_NAMES = ("localhost", "localhost.")


@dataclass(frozen=True)
class Settings:
    """How deliveries are made (from the app's configuration; see README)."""

    allow_localhost: bool = False
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    retry_base_seconds: int = 30


_settings = Settings()


def configure(**values) -> None:
    """Set the delivery settings (the app does it from its configuration)."""
    global _settings
    _settings = Settings(**{**_settings.__dict__, **values})


def settings() -> Settings:
    return _settings


def retry_intervals(current: Settings | None = None) -> list[int]:
    """Seconds before each retry: the base, doubled each time, at most six hours apart."""
    current = current or _settings
    return [min(current.retry_base_seconds * 2**n, LONGEST_INTERVAL) for n in range(max(current.max_attempts - 1, 1))]


# ---- signatures -------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the subscription's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex>[,v1=<hex>]``: one ``v1`` per secret in force (two during a rotation)."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(secret, timestamp, body)}" for secret in secrets)])


# ---- safe targets -----------------------------------------------------------------------------


def _is_local_name(host: str) -> bool:
    return host.lower() in _LOCAL_NAMES


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_localhost: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_localhost
    return address.is_global and not address.is_multicast


def check_url(url: object, field: str = "url") -> str:
    """A target URL deliveries may go to; ``ValidationFailed`` with the reason otherwise."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(message, errors={field: [message]})

    if not isinstance(url, str) or not url.strip():
        raise refuse("The url is required.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH or has_control_characters(url) or any(c.isspace() for c in url):
        raise refuse(f"The url must be one line of at most {MAX_URL_LENGTH} characters without spaces.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        raise refuse("The url cannot be read as a URL.") from None
    allow_localhost = _settings.allow_localhost
    if not host or parts.scheme not in ("https", "http"):
        raise refuse("The url must be an https address, such as https://partner.example.com/loyalty.")
    if parts.username is not None or parts.password is not None:
        raise refuse("The url must not hold a user name or password; deliveries are signed instead.")
    if parts.fragment:
        raise refuse("The url must not have a #fragment.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    local = _is_local_name(host) or (address is not None and address.is_loopback)
    if local and not allow_localhost:
        raise refuse("Deliveries never go to this machine (localhost).")
    if address is not None and not _address_allowed(address, allow_localhost):
        raise refuse("Deliveries go to public addresses only, never to a private or reserved one.")
    if parts.scheme == "http" and not local:
        raise refuse("The url must be an https address, such as https://partner.example.com/loyalty.")
    return url


class UnsafeTarget(Exception):
    """The target's host does not resolve, or resolves to an address deliveries must not reach."""


def check_resolved(url: str) -> None:
    """Resolve the URL's host now and refuse it unless every address it has is allowed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    allow_localhost = _settings.allow_localhost
    if _is_local_name(host):
        if not allow_localhost:
            raise UnsafeTarget("deliveries never go to localhost")
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"the host {host} cannot be resolved: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not _address_allowed(address, allow_localhost):
            raise UnsafeTarget(f"the host {host} resolves to {address}, which is not a public address")


# ---- one attempt ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """What one attempt sends: the event's body, signed with the subscription's secrets in force."""

    delivery_id: str
    event_id: str
    event_type: str
    url: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def send(attempt: Attempt, *, timestamp: int) -> AttemptResult:
    """POST the body to the target once: a 2xx answer is success; anything else, or no answer, is not."""
    try:
        check_resolved(attempt.url)
    except UnsafeTarget as exc:
        return AttemptResult(status_code=None, error=f"Not sent: {exc}.")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Loyalty-Event-Id": attempt.event_id,
        "Loyalty-Event-Type": attempt.event_type,
        "Loyalty-Delivery-Id": attempt.delivery_id,
        SIGNATURE_HEADER: signature_header(attempt.secrets, timestamp, attempt.body),
    }
    timeout = _settings.timeout_seconds
    try:
        # stream=True: the answer's body is never read, however large the receiver makes it.
        with requests.post(
            attempt.url, data=attempt.body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            code = response.status_code
    except requests.Timeout:
        return AttemptResult(status_code=None, error=f"No answer within {timeout:g} s.")
    except requests.RequestException as exc:
        return AttemptResult(status_code=None, error=f"Could not connect: {type(exc).__name__}: {exc}"[:1000])
    if 200 <= code < 300:
        return AttemptResult(status_code=code, error=None)
    if 300 <= code < 400:
        return AttemptResult(status_code=code, error=f"HTTP {code}: redirects are not followed; use the final URL.")
    return AttemptResult(status_code=code, error=f"HTTP {code}.")
