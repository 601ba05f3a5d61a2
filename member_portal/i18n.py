"""Languages of the portal (flask-babel): English, traditional and simplified Chinese.

The language is the signed-in member's own (``members.locale``), else the one
chosen on the page (a cookie), else the browser's best match. Dates are shown
in the program's timezone, numbers and dates in the language's format.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, request
from flask_babel import Babel, format_decimal

from loyalty.contacts import LOCALES
from loyalty.program.services import get_program
from web.extensions import db

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGE_COOKIE = "portal_lang"
# The name of each language, in that language (never translated).
LANGUAGE_NAMES = {"en": "English", "zh_Hant": "繁體中文", "zh_Hans": "简体中文"}
# ``lang`` attributes of the page (BCP 47).
HTML_LANG = {"en": "en", "zh_Hant": "zh-Hant", "zh_Hans": "zh-Hans"}
_TRADITIONAL = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def from_browser(accept_languages) -> str | None:
    """The program's language closest to an ``Accept-Language`` header, in its order of preference."""
    for value, _quality in accept_languages:
        tag = value.lower().replace("_", "-")
        if tag.startswith("zh"):
            return "zh_Hant" if tag.startswith(_TRADITIONAL) else "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return None


def select_locale() -> str:
    member = g.get("member")
    if member is not None and member.locale in LOCALES:
        return member.locale
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LOCALES:
        return chosen
    return from_browser(request.accept_languages) or "en"


def select_timezone() -> str:
    if "program_timezone" not in g:
        g.program_timezone = get_program(db.session).timezone
    return g.program_timezone


def points(value: int) -> str:
    """A number of points, grouped as the language writes numbers."""
    return format_decimal(value)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["points"] = points
    app.jinja_env.add_extension("jinja2.ext.do")
