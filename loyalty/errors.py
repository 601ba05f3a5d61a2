"""One error hierarchy for the domain; each error has a stable ``reason``.

The HTTP status of each error is decided in ``api/errors.py`` alone.
"""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base of every error the domain raises on purpose."""

    reason = "error"

    def __init__(self, message: str | None = None, *, errors: dict | None = None):
        super().__init__(message or self.__doc__ or self.reason)
        self.message = message or (self.__doc__ or self.reason).strip()
        self.errors = errors


class ValidationFailed(LoyaltyError):
    """The input is not valid."""

    reason = "validation_error"


class InvalidRule(ValidationFailed):
    """The rule cannot be saved as written."""

    reason = "invalid_rule"


class CurrencyMismatch(ValidationFailed):
    """The program does not run in that currency."""

    reason = "currency_mismatch"


class NotFound(LoyaltyError):
    """No such object."""

    reason = "not_found"


class MemberNotFound(NotFound):
    """No member matches that identifier."""

    reason = "member_not_found"


class Conflict(LoyaltyError):
    """The request conflicts with the current state."""

    reason = "conflict"


class MemberExists(Conflict):
    """A member with that email or phone is already enrolled."""

    reason = "member_exists"


class InvalidState(Conflict):
    """The object is not in a state that allows this."""

    reason = "invalid_state"


class Forbidden(LoyaltyError):
    """This key may not do that."""

    reason = "forbidden"


class Unauthenticated(LoyaltyError):
    """A valid API key is required."""

    reason = "unauthenticated"


class InvalidCredentials(Unauthenticated):
    """The email or the password is wrong."""

    reason = "invalid_credentials"


class BadSignature(Unauthenticated):
    """The request signature does not match."""

    reason = "bad_signature"


class StaleRequest(Unauthenticated):
    """The request timestamp is too far from the server's clock."""

    reason = "stale_request"


class IdempotencyConflict(Conflict):
    """That external_id or idempotency key was already used with a different body."""

    reason = "idempotency_conflict"


class AlreadyClaimed(Conflict):
    """The purchase's points have already been claimed."""

    reason = "already_claimed"


class InsufficientPoints(ValidationFailed):
    """Not enough points are available."""

    reason = "insufficient_points"


class ReturnExceedsPurchase(ValidationFailed):
    """More is being returned than was bought."""

    reason = "return_exceeds_purchase"


class RewardUnavailable(ValidationFailed):
    """The reward cannot be redeemed now (out of stock, outside its window, archived, or not for this member)."""

    reason = "reward_unavailable"


class AlreadyUsed(Conflict):
    """The redemption's code has already been used."""

    reason = "already_used"


class RedemptionCancelled(InvalidState):
    """The redemption was cancelled: its code can no longer be used."""

    reason = "redemption_cancelled"


class RedemptionExpired(InvalidState):
    """The redemption's code has expired."""

    reason = "redemption_expired"


class TokenInvalid(ValidationFailed):
    """The link or code is wrong, was already used, or has expired."""

    reason = "invalid_token"
