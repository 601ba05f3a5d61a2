"""The member's card as a QR code of the card number, in SVG and PNG."""

from __future__ import annotations

from loyalty.qr import qr_png, qr_svg


def card_svg(card_number: str) -> bytes:
    """A scalable QR code of the card number, black on white."""
    return qr_svg(card_number)


def card_png(card_number: str, *, box_size: int = 10) -> bytes:
    """A PNG QR code of the card number, black on white."""
    return qr_png(card_number, box_size=box_size)
