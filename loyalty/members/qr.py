"""The member's card as a QR code (the ``qrcode`` library), in SVG and PNG."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _code(card_number: str) -> qrcode.QRCode:
    # Medium error correction survives a scratched phone screen or a worn
    # printout; a 4-module quiet zone is what scanners expect.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(card_number)
    code.make(fit=True)
    return code


def card_svg(card_number: str) -> bytes:
    """A scalable QR code of the card number, black on white."""
    image = _code(card_number).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    return image.to_string(encoding="unicode").encode()


def card_png(card_number: str, *, box_size: int = 10) -> bytes:
    """A PNG QR code of the card number, black on white."""
    code = _code(card_number)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
