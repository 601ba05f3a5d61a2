"""The application factory; the only module that imports every package."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import sessionmaker

import loyalty.models  # noqa: F401  (every table in the metadata)
from loyalty import credentials_cache, crypto, queue
from loyalty import db as loyalty_db
from loyalty.members import cards
from loyalty.notifications import delivery
from loyalty.webhooks import delivery as webhook_delivery
from web import config, metrics, requestlog, security
from web.application import Application
from web.extensions import db, migrate


def create_app(overrides: dict | None = None) -> Application:
    instance_path = os.environ.get("LOYALTY_INSTANCE_PATH")
    app = Application(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.update(config.load(Path(app.instance_path)))
    app.config.update(overrides or {})
    app.json.sort_keys = False

    requestlog.configure_logging(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    with app.app_context():
        for engine in db.engines.values():
            loyalty_db.configure_engine(engine, ping_after_idle=app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
        if app.config["CREDENTIALS_CACHE"]:
            credentials_cache.enable(db.engine, listen_url=app.config["CREDENTIALS_LISTEN_URL"])
    loyalty_db.set_session_factory(lambda: db.session)
    if "analytics" in app.config.get("SQLALCHEMY_BINDS", {}):
        with app.app_context():
            loyalty_db.set_read_session_factory(sessionmaker(bind=db.engines["analytics"]))
    else:
        loyalty_db.set_read_session_factory(None)
    queue.configure(url=app.config["REDIS_URL"], embedded_path=app.config["EMBEDDED_REDIS_PATH"])
    crypto.configure(app.config["SECRET_KEY"])
    delivery.configure(app.config["NOTIFICATION_BACKEND"])
    cards.configure(app.config["CARD_PREFIX"])
    webhook_delivery.configure(
        allow_localhost=bool(app.config["WEBHOOK_ALLOW_LOCALHOST"]),
        timeout_seconds=float(app.config["WEBHOOK_TIMEOUT_SECONDS"]),
        max_attempts=int(app.config["WEBHOOK_MAX_ATTEMPTS"]),
        retry_base_seconds=int(app.config["WEBHOOK_RETRY_BASE_SECONDS"]),
    )
    security.init_app(app)
    metrics.init_app(app)

    import console
    import member_portal
    from api import API_PREFIX, create_api
    from pos_plugins.odoo import receiver as odoo_receiver
    from pos_plugins.shopify import receiver as shopify_receiver
    from pos_plugins.square import receiver as square_receiver
    from web import cli

    api = create_api(app)
    security.skip_limiter_under(app, API_PREFIX)
    # The vendors' webhook receivers, each documented with its own signature scheme.
    for receiver in (shopify_receiver, square_receiver, odoo_receiver):
        api.spec.components.security_scheme(*receiver.blp.security_scheme)
        api.register_blueprint(receiver.blp, url_prefix=API_PREFIX + receiver.blp.url_prefix)
    member_portal.init_app(app)
    console.init_app(app)
    cli.register(app)

    @app.teardown_appcontext
    def _remove_session(_exc):
        db.session.remove()

    return app


# A process forked from one that used the database must not share its
# connections (gunicorn --preload, the RQ work horse).
def _dispose_pools_after_fork() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


_engines: list = []

app = create_app()
with app.app_context():
    _engines.extend(db.engines.values())
os.register_at_fork(after_in_child=_dispose_pools_after_fork)
