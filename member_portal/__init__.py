"""The shoppers' pages: sign up or claim a card, points, activity, rewards, claims, profile.

Server-rendered with Jinja, usable without JavaScript, in English and
traditional and simplified Chinese. Mounted at ``/portal``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for

from web import security

bp = Blueprint(
    "portal",
    __name__,
    url_prefix="/portal",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
security.protect_pages(bp)


def init_app(app: Flask) -> None:
    from member_portal import errors, i18n, templating, views  # noqa: F401  (routes and handlers on the blueprint)

    i18n.init_app(app)
    app.register_blueprint(bp)

    @app.get("/")
    def _root():
        return redirect(url_for("portal.home"))
