"""The staff console: server-rendered pages for the operator's admins and marketers and the merchants' staff.

Every page is plain HTML that works without JavaScript; ``static/console.js``
only enhances (the rule editor's checks as you type, progress that refreshes by
itself). Nothing is fetched from another host. Sign-in uses the shared pieces
(``loyalty.logins``, ``web.security``); what a page shows is decided by the
domain services, given the signed-in staff member as the actor.
"""

from __future__ import annotations

from flask import Flask

from console import (  # noqa: F401 (each module registers its pages on import)
    views_analytics,
    views_auth,
    views_campaigns,
    views_cases,
    views_merchants,
    views_operator,
    views_rules,
    views_settlement,
)
from console.common import bp
from web.security import protect_pages

# Once, when the blueprint is made: every application that registers it shares it.
protect_pages(bp)


def init_app(app: Flask) -> None:
    """Register the console's pages under ``/console``."""
    app.register_blueprint(bp)
