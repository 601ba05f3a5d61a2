"""One error hierarchy, mirroring the service's ``reason`` codes (API.md, "Conventions").

Every answer the service refuses becomes an ``ApiError`` subclass chosen by its
``reason`` (falling back on the HTTP status); a service that cannot be reached,
times out or answers 5xx is ``ServiceUnavailable``.
"""

from __future__ import annotations


class LoyaltyClientError(Exception):
    """Base of every error the till client raises."""


class ApiError(LoyaltyClientError):
    """The service answered with an error envelope."""

    reason = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        errors: dict | None = None,
        body: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        if reason:
            self.reason = reason
        self.errors = errors
        self.body = body

    def __str__(self) -> str:
        prefix = f"{self.status} {self.reason}" if self.status else self.reason
        return f"{prefix}: {self.message}"


class Unauthenticated(ApiError):
    """A missing, unknown or revoked key (401)."""

    reason = "unauthenticated"


class BadSignature(Unauthenticated):
    """The request signature does not match the terminal's signing secret."""

    reason = "bad_signature"


class StaleRequest(Unauthenticated):
    """The request's timestamp is more than 300 s from the service's clock: the till's clock is probably wrong."""

    reason = "stale_request"

    def __init__(self, message: str, *, clock_offset: float | None = None, **kwargs):
        if clock_offset is not None:
            message = (
                f"{message} The till's clock is {abs(clock_offset):.0f} s "
                f"{'ahead of' if clock_offset > 0 else 'behind'} the service's: set the till's clock."
            )
        super().__init__(message, **kwargs)
        self.clock_offset = clock_offset


class Forbidden(ApiError):
    """The key may not do that (403)."""

    reason = "forbidden"


class NotFound(ApiError):
    """No such object, or not this merchant's (404)."""

    reason = "not_found"


class MemberNotFound(NotFound):
    """No member matches that identifier."""

    reason = "member_not_found"


class Conflict(ApiError):
    """The request conflicts with the current state (409)."""

    reason = "conflict"


class MemberExists(Conflict):
    """A member with that email or phone is already enrolled."""

    reason = "member_exists"


class InvalidState(Conflict):
    """The member or redemption is not in a state that allows this."""

    reason = "invalid_state"


class IdempotencyConflict(Conflict):
    """The same external id or idempotency key was sent before with a different body."""

    reason = "idempotency_conflict"


class AlreadyClaimed(Conflict):
    """The anonymous purchase has already been claimed."""

    reason = "already_claimed"


class AlreadyUsed(Conflict):
    """The reward's code has already been used."""

    reason = "already_used"


class RedemptionCancelled(Conflict):
    """The reward's code was cancelled."""

    reason = "redemption_cancelled"


class RedemptionExpired(Conflict):
    """The reward's code has expired."""

    reason = "redemption_expired"


class ValidationError(ApiError):
    """The request is not valid (422); ``errors`` names the fields."""

    reason = "validation_error"


class CurrencyMismatch(ValidationError):
    """The program does not run in that currency."""

    reason = "currency_mismatch"


class InsufficientPoints(ValidationError):
    """The member has not enough available points."""

    reason = "insufficient_points"


class RewardUnavailable(ValidationError):
    """The reward is archived, out of its window, out of stock, for another tier or over the member's limit."""

    reason = "reward_unavailable"


class ReturnExceedsPurchase(ValidationError):
    """More would be returned than was bought."""

    reason = "return_exceeds_purchase"


class RateLimited(ApiError):
    """The service asks the till to slow down (429); retried like an outage."""

    reason = "rate_limited"


class ServiceUnavailable(ApiError):
    """The service could not be reached, timed out, or answered 5xx: the request may or may not have taken effect."""

    reason = "unavailable"


class InvalidCard(LoyaltyClientError, ValueError):
    """A card number or scanned code that is not 16 digits with a valid Luhn check digit."""


class QueuedSaleError(LoyaltyClientError):
    """A queued sale that cannot be delivered as it stands (its purchase was rejected, for instance)."""


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        Unauthenticated,
        BadSignature,
        StaleRequest,
        Forbidden,
        NotFound,
        MemberNotFound,
        Conflict,
        MemberExists,
        InvalidState,
        IdempotencyConflict,
        AlreadyClaimed,
        AlreadyUsed,
        RedemptionCancelled,
        RedemptionExpired,
        ValidationError,
        CurrencyMismatch,
        InsufficientPoints,
        RewardUnavailable,
        ReturnExceedsPurchase,
        RateLimited,
        ServiceUnavailable,
    )
}
_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    408: ServiceUnavailable,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}


def is_retryable(status: int) -> bool:
    """Whether an answer with this status may succeed if sent again unchanged: 408, 429 and 5xx."""
    return status in (408, 429) or status >= 500


def error_for(status: int, body: dict | None, *, clock_offset: float | None = None) -> ApiError:
    """The typed error for an error answer."""
    body = body if isinstance(body, dict) else {}
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else f"HTTP {status}"
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else None
    if status >= 500:
        cls: type[ApiError] = ServiceUnavailable
    else:
        cls = _BY_REASON.get(reason or "") or _BY_STATUS.get(status) or ApiError
    kwargs = {"status": status, "reason": reason, "errors": errors, "body": body or None}
    if cls is StaleRequest:
        return StaleRequest(message, clock_offset=clock_offset, **kwargs)
    return cls(message, **kwargs)
