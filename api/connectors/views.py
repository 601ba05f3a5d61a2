from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.connectors.schemas import (
    ConnectorCreateSchema,
    ConnectorEventListArgs,
    ConnectorEventPage,
    ConnectorListArgs,
    ConnectorPage,
    ConnectorPatchSchema,
    ConnectorRotatedSchema,
    ConnectorRotateSchema,
    ConnectorSchema,
    CreatedConnectorSchema,
)
from loyalty.actors import Role
from loyalty.connectors import deliveries, services
from web.extensions import db

blp = Blueprint(
    "connectors",
    __name__,
    url_prefix="",
    description=(
        "Connectors: a merchant running Shopify, Square or Odoo Point of Sale joins by pointing that POS's "
        "webhooks at `webhook_url`. Paid orders become purchases, refunds become returns, each recorded once "
        "whatever the vendor resends. Secrets are write-only (Odoo's, made here, is shown once)."
    ),
)


def webhook_url(connector) -> str:
    return f"{request.url_root.rstrip('/')}/api/v1/pos-webhooks/{connector.vendor}/{connector.id}"


def connector_body(connector) -> dict:
    return {
        **{name: getattr(connector, name) for name in ConnectorSchema().fields if hasattr(connector, name)},
        "has_api_token": deliveries.has_api_token(db.session, connector.id),
        "webhook_url": webhook_url(connector),
    }


@blp.route("/merchants/<merchant_id>/connectors")
class MerchantConnectorsView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(ConnectorCreateSchema)
    @blp.response(201, CreatedConnectorSchema)
    @blp.alt_response(409, response="Error", description="The merchant is suspended.")
    def post(self, data, merchant_id):
        """Connect a merchant's Shopify, Square or Odoo POS; the answer's `webhook_url` goes in the vendor's settings.

        Shopify and Square sign their webhooks with their own secret: give it as `signing_secret`. For Odoo the
        service makes the secret and shows it in this answer only. A Square connector also needs `api_token`
        (Square's order webhooks name the order without its lines) and keeps the URL Square signs as
        `settings.notification_url` (this connector's `webhook_url` unless given).
        """
        settings = dict(data.pop("settings"))
        connector, secret = services.create_connector(
            db.session, merchant_id=merchant_id, settings=settings, **data, actor=current_actor()
        )
        if connector.vendor == "square" and "notification_url" not in connector.settings:
            connector.settings = {**connector.settings, "notification_url": webhook_url(connector)}
        db.session.commit()
        body = connector_body(connector)
        if secret is not None:
            body["signing_secret"] = secret
        return body


@blp.route("/connectors")
class ConnectorsView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(ConnectorListArgs, location="query")
    @blp.response(200, ConnectorPage)
    def get(self, args):
        """List connectors, newest first; a merchant key sees its own."""
        page = services.list_connectors(db.session, **args, actor=current_actor())
        return page_body(page) | {"items": [connector_body(c) for c in page.items]}


@blp.route("/connectors/<connector_id>")
class ConnectorView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(200, ConnectorSchema)
    def get(self, connector_id):
        """Read a connector (never its secrets)."""
        return connector_body(services.get_connector(db.session, connector_id, actor=current_actor()))

    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(ConnectorPatchSchema)
    @blp.response(200, ConnectorSchema)
    def patch(self, data, connector_id):
        """Rename, disable or enable a connector, change its store mapping, settings or API token (audited)."""
        connector = services.update_connector(
            db.session, connector_id=connector_id, changes=data, actor=current_actor()
        )
        db.session.commit()
        return connector_body(connector)


@blp.route("/connectors/<connector_id>/rotate-secret")
class ConnectorRotateView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(ConnectorRotateSchema)
    @blp.response(200, ConnectorRotatedSchema)
    @blp.alt_response(409, response="Error", description="The connector is disabled.")
    def post(self, data, connector_id):
        """A new signing secret; the old ones stay valid until `previous_valid_until`, so no delivery is refused
        while the vendor switches. Shopify and Square: give the secret rotated at the vendor; Odoo: one is made
        and shown in this answer only."""
        grace_hours = data.get("grace_hours")
        if grace_hours is None:
            grace_hours = current_app.config["SIGNING_SECRET_GRACE_HOURS"]
        secret, valid_until = services.rotate_connector_secret(
            db.session,
            connector_id=connector_id,
            signing_secret=data.get("signing_secret"),
            grace_hours=grace_hours,
            actor=current_actor(),
        )
        db.session.commit()
        return {"connector_id": connector_id, "signing_secret": secret, "previous_valid_until": valid_until}


@blp.route("/connectors/<connector_id>/events")
class ConnectorEventsView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(ConnectorEventListArgs, location="query")
    @blp.response(200, ConnectorEventPage)
    def get(self, args, connector_id):
        """The connector's deliveries, newest first: what each became (recorded, ignored, rejected and why)."""
        return page_body(deliveries.list_events(db.session, connector_id=connector_id, **args, actor=current_actor()))
