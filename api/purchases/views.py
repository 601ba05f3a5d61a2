from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.purchases.schemas import (
    PurchaseListArgs,
    PurchasePage,
    PurchaseQuoteSchema,
    PurchaseReceiptSchema,
    PurchaseRecordSchema,
    PurchaseSchema,
    QuoteArgs,
    QuoteSchema,
    ReturnReceiptSchema,
    ReturnSchema,
    purchase_body,
    quote_body,
)
from loyalty.actors import Role
from loyalty.db import utcnow
from loyalty.earning.quotes import quote_purchase
from loyalty.idempotency import request_hash
from loyalty.purchases import services as purchases
from web.extensions import db

blp = Blueprint("purchases", __name__, url_prefix="/purchases", description="Purchases from the tills.")


@blp.route("/quote")
class QuoteView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(QuoteArgs, location="query")
    @blp.arguments(PurchaseQuoteSchema)
    @blp.response(200, QuoteSchema)
    def post(self, args, data):
        """What a purchase would earn now, with nothing written: `{points, breakdown}`.

        The same body as `POST /purchases` (`external_id` optional). A terminal's key quotes at its store;
        merchant, marketer and admin keys name `store_id` (a merchant its own stores only; another's is 404).
        404 `member_not_found` for an unknown member, 422 `currency_mismatch` for a currency the program does
        not run in. An anonymous basket (no `member`) is scored with neutral member facts: no tier, no
        purchases before, enrolled that day, no last purchase, lifecycle stage `anonymous`, not a birthday
        month. Per-member limits count only what earlier purchases used.

        `?explain=true` (not for terminals) adds `skipped`: each rule in scope (the operator's and the store's
        merchant's) that gave no points, with the reason.
        """
        quote = quote_purchase(
            db.session,
            store_id=data["store_id"],
            member=data["member"],
            occurred_at=data["occurred_at"],
            currency=data["currency"],
            total_minor=data["total_minor"],
            items=data["items"],
            explain=args["explain"],
            actor=current_actor(),
        )
        # A quote writes nothing (not even the program's defaults on a first read).
        db.session.rollback()
        return quote_body(quote, explain=args["explain"])


def _receipt_response(outcome, status: int) -> Response:
    """The stored receipt, byte for byte; a replay is 200 with ``Idempotent-Replayed: true``."""
    response = Response(outcome.receipt_json, status=200 if outcome.replayed else status, mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("")
class PurchasesView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(PurchaseSchema())  # an instance: built once, not on every request
    @blp.response(201, PurchaseReceiptSchema)
    @blp.alt_response(200, schema=PurchaseReceiptSchema, description="A replay: the same external_id and body again.")
    def post(self, data):
        """Record a sale and award its points in real time.

        The same `external_id` from the same merchant with the same body answers 200 with the identical body
        and `Idempotent-Replayed: true`; with a different body, 409 `idempotency_conflict`. Nothing is awarded
        twice. A purchase without `member` gets a `claim_code` for the receipt. 404 `member_not_found`, 422
        `currency_mismatch`.
        """
        actor = current_actor()
        outcome = purchases.record_purchase(
            db.session,
            store_id=data["store_id"],
            terminal_id=actor.terminal_id,
            external_id=data["external_id"],
            member_ref=data["member"],
            occurred_at=data["occurred_at"] or utcnow(),
            currency=data["currency"],
            total_minor=data["total_minor"],
            items=data["items"],
            fingerprint=request_hash(request.get_json()),
            actor=actor,
        )
        db.session.commit()
        return _receipt_response(outcome, 201)

    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(PurchaseListArgs, location="query")
    @blp.response(200, PurchasePage)
    def get(self, args):
        """Stored purchases, newest first; a merchant's and a terminal's keys see their merchant's only."""
        page = purchases.list_purchases(db.session, actor=current_actor(), **args)
        return page_body(page) | {"items": [purchase_body(p) for p in page.items]}


@blp.route("/<purchase_id>")
class PurchaseView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.response(200, PurchaseRecordSchema)
    def get(self, purchase_id):
        """A stored purchase with its items, points and returns."""
        return purchase_body(purchases.get_purchase(db.session, purchase_id, actor=current_actor()))


@blp.route("/<purchase_id>/returns")
class PurchaseReturnsView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(ReturnSchema)
    @blp.response(201, ReturnReceiptSchema)
    @blp.alt_response(200, schema=ReturnReceiptSchema, description="A replay: the same external_id and body again.")
    def post(self, data, purchase_id):
        """Goods or an amount given back: the purchase's points come back in proportion to the value returned.

        Pending points of the purchase are taken back first; points already spent take the available balance
        below zero. Returning more than was bought is 422 `return_exceeds_purchase`. Replays behave as for
        purchases.
        """
        outcome = purchases.return_purchase(
            db.session,
            purchase_id=purchase_id,
            external_id=data["external_id"],
            items=data.get("items"),
            amount_minor=data.get("amount_minor"),
            fingerprint=request_hash(request.get_json()),
            actor=current_actor(),
        )
        db.session.commit()
        return _receipt_response(outcome, 201)
