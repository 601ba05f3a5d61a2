"""Every string the portal shows has a real translation in both Chinese catalogues, and the compiled
catalogues that are served are the ones the .po files say."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

PORTAL = Path(__file__).resolve().parents[2] / "member_portal"
TRANSLATIONS = PORTAL / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def _extracted() -> set:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PORTAL), METHODS, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.do"}}, keywords=KEYWORDS
    ):
        found.add(message)
    return found


def _po(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", ["zh_Hant", "zh_Hans"])
def test_every_message_of_the_portal_is_translated(locale):
    catalog = _po(locale)
    extracted = _extracted()
    assert len(extracted) > 150

    missing = [m for m in extracted if catalog.get(m[0] if isinstance(m, tuple) else m) is None]
    untranslated = [
        m.id for m in catalog if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    ]
    assert not missing, f"not in {locale}/messages.po (run the update in docs/member-portal.md): {missing}"
    assert not untranslated, f"untranslated or fuzzy in {locale}: {untranslated}"


@pytest.mark.parametrize("locale", ["zh_Hant", "zh_Hans"])
def test_the_compiled_catalogue_is_the_po_file_compiled(locale):
    def flat(messages) -> dict:
        return {tuple(m.id) if isinstance(m.id, list | tuple) else m.id: m.string for m in messages if m.id}

    po = flat(_po(locale))
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo", "rb") as f:
        mo = flat(read_mo(f))
    mo = {k: tuple(v) if isinstance(v, list) else v for k, v in mo.items()}
    po = {k: tuple(v) if isinstance(v, list) else v for k, v in po.items()}

    assert mo == po, f"compile {locale} again: pybabel compile -d member_portal/translations"


def test_traditional_and_simplified_differ_where_the_scripts_do():
    hant, hans = _po("zh_Hant"), _po("zh_Hans")

    assert hant.get("Your points").string != hans.get("Your points").string
    assert "點" in hant.get("Your points").string and "积分" in hans.get("Your points").string
