"""What every portal page has at hand: the program's name, the languages, and a few filters."""

from __future__ import annotations

from flask import g
from flask_babel import get_locale
from flask_babel import gettext as _

from loyalty.db import utcnow
from loyalty.program.services import get_program
from member_portal import bp
from member_portal.i18n import HTML_LANG, LANGUAGE_NAMES
from web.extensions import db


@bp.context_processor
def _page_context() -> dict:
    locale = str(get_locale() or "en")
    if "program_name" not in g:
        g.program_name = get_program(db.session).name
    return {
        "program_name": g.program_name,
        "languages": LANGUAGE_NAMES,
        "html_langs": HTML_LANG,
        "locale": locale,
        "html_lang": HTML_LANG.get(locale, "en"),
        "now": utcnow(),
    }


@bp.app_template_filter("card_groups")
def card_groups(number: str) -> str:
    """A card number as it is printed: four groups of four digits."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


@bp.app_template_filter("benefits")
def benefits(values: dict) -> list[str]:
    """A tier's benefits, one line each: the known ones in words, any other as its name and value."""
    lines = []
    for key, value in (values or {}).items():
        if key == "bonus_percent":
            lines.append(_("%(percent)s%% more points on every purchase", percent=value))
        elif key == "free_delivery" and value is True:
            lines.append(_("Free delivery"))
        elif key == "description" and isinstance(value, str):
            lines.append(value)
        elif value is True:
            lines.append(key.replace("_", " ").capitalize())
        elif value not in (False, None, ""):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
    return lines
