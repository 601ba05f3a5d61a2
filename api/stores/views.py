from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.merchants.schemas import StoreSchema
from api.stores.schemas import (
    CreatedTerminalSchema,
    RotatedSchema,
    RotateSchema,
    TerminalCreateSchema,
    TerminalListArgs,
    TerminalPage,
    TerminalSchema,
)
from loyalty.actors import Role
from loyalty.merchants import services
from web.extensions import db

blp = Blueprint(
    "stores",
    __name__,
    url_prefix="",
    description=(
        "Stores and their terminals. A terminal holds an API key and a signing secret, both shown once.\n\n"
        "**Signed terminal requests.** A terminal sends `X-Loyalty-Timestamp: <unix seconds>` and "
        "`X-Loyalty-Signature: v1=<hex HMAC-SHA256(signing secret, "
        '"<timestamp>.<METHOD>.<path with query>.<raw body>")>`, the path as sent (for example '
        "`/api/v1/purchases?x=1`) and the body byte for byte. Signing is mandatory while the merchant's "
        "`require_signed_requests` is true (the default); when it is false, unsigned requests pass but a request "
        "carrying either header must be correctly signed. A missing or wrong signature is 401 `bad_signature`; "
        "a timestamp that is not whole seconds or is more than 300 s from the server's clock is 401 "
        "`stale_request`. After a rotation the old secrets stay valid until `previous_valid_until`, so several "
        "secrets can be valid at once."
    ),
)


@blp.route("/stores/<store_id>")
class StoreView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT)
    @blp.response(200, StoreSchema)
    def get(self, store_id):
        """Read a store. A merchant key reads only its own stores."""
        return services.get_store(db.session, store_id, actor=current_actor())


@blp.route("/stores/<store_id>/terminals")
class StoreTerminalsView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT)
    @blp.arguments(TerminalListArgs, location="query")
    @blp.response(200, TerminalPage)
    def get(self, args, store_id):
        """List a store's terminals, newest first. Their secrets are never shown again."""
        return page_body(services.list_terminals(db.session, store_id=store_id, **args, actor=current_actor()))

    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(TerminalCreateSchema)
    @blp.response(201, CreatedTerminalSchema)
    @blp.alt_response(409, response="Error", description="The merchant is suspended.")
    def post(self, data, store_id):
        """Add a terminal. The answer holds its API key and signing secret, which are never shown again."""
        terminal, api_key, signing_secret = services.add_terminal(
            db.session, store_id=store_id, name=data["name"], actor=current_actor()
        )
        db.session.commit()
        return {**terminal_body(terminal), "api_key": api_key, "signing_secret": signing_secret}


@blp.route("/terminals/<terminal_id>")
class TerminalView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT)
    @blp.response(200, TerminalSchema)
    def get(self, terminal_id):
        """Read a terminal (never its secrets)."""
        return services.get_terminal(db.session, terminal_id, actor=current_actor())


@blp.route("/terminals/<terminal_id>/rotate-secret")
class TerminalRotateView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(RotateSchema)
    @blp.response(200, RotatedSchema)
    @blp.alt_response(409, response="Error", description="The terminal is revoked.")
    def post(self, data, terminal_id):
        """Give a terminal a new signing secret (shown once). The old secrets stay valid until
        `previous_valid_until`, so the till can switch without refused requests."""
        grace_hours = data["grace_hours"]
        if grace_hours is None:
            grace_hours = current_app.config["SIGNING_SECRET_GRACE_HOURS"]
        secret, valid_until = services.rotate_terminal_secret(
            db.session, terminal_id=terminal_id, grace_hours=grace_hours, actor=current_actor()
        )
        db.session.commit()
        return {"terminal_id": terminal_id, "signing_secret": secret, "previous_valid_until": valid_until}


@blp.route("/terminals/<terminal_id>/revoke")
class TerminalRevokeView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(200, TerminalSchema)
    @blp.alt_response(409, response="Error", description="The terminal is already revoked.")
    def post(self, terminal_id):
        """Revoke a terminal at once: its key and signing secrets stop working (409 if already revoked)."""
        terminal = services.revoke_terminal(db.session, terminal_id=terminal_id, actor=current_actor())
        db.session.commit()
        return terminal


def terminal_body(terminal) -> dict:
    return {name: getattr(terminal, name) for name in TerminalSchema().fields}
