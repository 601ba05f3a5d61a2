"""Normalising and checking the ways to reach someone: email, phone, language (members and merchants)."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from loyalty.errors import ValidationFailed

LOCALES = ("en", "zh_Hant", "zh_Hans")


def normalise_email(value: str, field: str = "email", *, fold_case: bool = True) -> str:
    """A syntactically valid address (domain lower-cased); ``fold_case`` lower-cases it all, so
    that one mailbox is one member whatever case it is typed in."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"{value!r} is not a valid email address.", errors={field: [str(exc)]}) from None
    return result.normalized.lower() if fold_case else result.normalized


def normalise_phone(value: str, field: str = "phone") -> str:
    """The number in E.164 (``+`` and country code), the only form accepted."""
    text = value.strip()
    error = ValidationFailed(
        f"{value!r} is not a valid phone number in international form, such as +447700900123.",
        errors={field: ["Expected an E.164 number such as +447700900123."]},
    )
    if not text.startswith("+"):
        raise error
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise error from None
    if not phonenumbers.is_valid_number(number):
        raise error
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_locale(value: str, field: str = "locale") -> str:
    if value not in LOCALES:
        raise ValidationFailed(
            f"{value!r} is not a language of the program ({', '.join(LOCALES)}).",
            errors={field: [f"One of {', '.join(LOCALES)}."]},
        )
    return value
