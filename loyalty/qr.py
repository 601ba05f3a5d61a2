"""QR codes of short texts (a card number, a reward's code), in SVG and PNG, with the ``qrcode`` library."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _code(text: str) -> qrcode.QRCode:
    # Medium error correction survives a scratched phone screen or a worn
    # printout; a 4-module quiet zone is what scanners expect.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(text)
    code.make(fit=True)
    return code


def qr_svg(text: str) -> bytes:
    """A scalable QR code of ``text``, black on white."""
    image = _code(text).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    return image.to_string(encoding="unicode").encode()


def qr_png(text: str, *, box_size: int = 10) -> bytes:
    """A PNG QR code of ``text``, black on white, ``box_size`` pixels per module."""
    code = _code(text)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
