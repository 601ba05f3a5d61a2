"""Domain errors, said to the member in their language (the domain's own messages are English, for the API)."""

from __future__ import annotations

from flask_babel import gettext as _

from loyalty import errors

# The password rules of loyalty.logins, by their English message.
_PASSWORD = {
    "This password is too easy to guess.": lambda: _("This password is too easy to guess. Try a few unrelated words."),
    "The password must not contain your email, phone or name.": lambda: _(
        "The password must not contain your email, phone or name."
    ),
}


def password_problem(error: errors.ValidationFailed) -> str | None:
    """The translated reason a new password was refused, if that was the problem."""
    for message in (error.errors or {}).get("password", []):
        if message in _PASSWORD:
            return _PASSWORD[message]()
        if message.startswith("Use at least"):
            return _("The password is too short.")
        if message.startswith("Use at most"):
            return _("The password is too long.")
    return None


def describe(error: errors.LoyaltyError) -> str:
    """One sentence for the member about what went wrong."""
    fields = error.errors or {}
    if isinstance(error, errors.InvalidCredentials):
        return _("The email or the password is wrong.")
    if isinstance(error, errors.TokenInvalid):
        return _("That code is wrong or has expired. Ask for a new one.")
    if isinstance(error, errors.MemberExists):
        return _("That email or phone number belongs to another member.")
    if isinstance(error, errors.MemberNotFound):
        return _("No member has that card number.")
    if isinstance(error, errors.InsufficientPoints):
        return _("You do not have enough points available for this reward.")
    if isinstance(error, errors.RewardUnavailable):
        if "limit" in error.message:
            return _("You have already redeemed this reward as many times as it allows.")
        if "tier" in error.message:
            return _("This reward is for members of a higher tier.")
        if "stock" in error.message:
            return _("This reward is out of stock.")
        return _("This reward is not offered now.")
    if isinstance(error, errors.AlreadyClaimed):
        return _("The points of this purchase have already been claimed.")
    if isinstance(error, errors.AlreadyUsed):
        return _("This code has been used at a till; it can no longer be cancelled.")
    if isinstance(error, errors.InvalidState):
        if "claim window" in error.message:
            return _("It is too late to claim this purchase.")
        return _("Your account is not active. Please contact us.")
    if isinstance(error, errors.NotFound):
        if "claim_code" in fields:
            return _("No purchase has that claim code. Check it against your receipt.")
        if "card_number" in fields:
            return _("No member has that card number.")
        return _("We could not find that.")
    if isinstance(error, errors.ValidationFailed):
        if "card_number" in fields:
            return _("That card number is mistyped: check the 16 digits.")
        if "phone" in fields:
            return _("Enter the number with its country code, such as +447911123456.")
        if "email" in fields:
            return _("Enter an email address such as name@example.com.")
        return password_problem(error) or _("Please check what you entered.")
    return _("Something went wrong. Please try again.")
