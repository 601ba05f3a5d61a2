import json
import logging

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.errors import FIELD_ERRORS_MESSAGE, domain_error_body, error_body, server_error_message
from api.purchases.schemas import (
    PurchaseBatchResultSchema,
    PurchaseBatchSchema,
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
from loyalty.db import durable_at_end, utcnow
from loyalty.earning.quotes import forget_settings, one_setting_per_store, quote_purchase
from loyalty.errors import LoyaltyError
from loyalty.idempotency import Outcome, request_hash
from loyalty.outbox.services import relay_held
from loyalty.purchases import services as purchases
from loyalty.purchases.returns import return_purchase
from web.extensions import db

log = logging.getLogger(__name__)

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


_SALE = PurchaseSchema()


def _record(sale, actor, no_wait) -> Outcome:
    data = _SALE.load(sale)
    no_wait()
    return purchases.record_purchase(
        db.session,
        store_id=data["store_id"],
        terminal_id=actor.terminal_id,
        external_id=data["external_id"],
        member_ref=data["member"],
        occurred_at=data["occurred_at"] or utcnow(),
        currency=data["currency"],
        total_minor=data["total_minor"],
        items=data["items"],
        # The body as sent, as POST /purchases takes it: a sale sent alone and then in a batch is one sale.
        fingerprint=request_hash(sale),
        actor=actor,
    )


_NOT_ATTEMPTED = error_body(
    503,
    "not_attempted",
    "Not attempted: a purchase before it in this batch failed on the service's side. Send it again.",
)


def _problem(error: Exception, index: int) -> dict:
    """The envelope ``POST /purchases`` would answer for this error."""
    if isinstance(error, ma.ValidationError):
        return error_body(422, "validation_error", FIELD_ERRORS_MESSAGE, error.messages)
    if isinstance(error, LoyaltyError):
        return domain_error_body(error)
    log.error("purchase %d of a batch failed", index, exc_info=error)
    return error_body(500, "internal_error", server_error_message())


def _failure(index: int, external_id, error: dict) -> str:
    return json.dumps({"index": index, "external_id": external_id, "status": error["code"], "error": error})


def _success(index: int, external_id, outcome: Outcome) -> str:
    head = {"index": index, "external_id": external_id, "status": 200 if outcome.replayed else 201}
    head["replayed"] = outcome.replayed
    # The stored receipt's exact text, as POST /purchases answers it.
    return json.dumps(head)[:-1] + ', "receipt": ' + outcome.receipt_json + "}"


@blp.route("/batch")
class PurchaseBatchView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(PurchaseBatchSchema)
    @blp.response(200, PurchaseBatchResultSchema)
    def post(self, data):
        """Record up to 100 sales in order, each as `POST /purchases` would: for a till catching up.

        Each purchase is exactly the body of `POST /purchases` and is recorded in its own transaction, in the
        order sent: one that is refused changes nothing and does not undo the others, and if the service stops
        part way, each purchase is either fully recorded or not at all. `results` holds, for each purchase in
        order, the `status` and the receipt (201, or 200 with `replayed` for an `external_id` already recorded
        with the same body) or the error envelope that `POST /purchases` would answer for it alone: 409
        `idempotency_conflict`, 404 `member_not_found`, 422 `currency_mismatch` or `validation_error` with the
        purchase's field errors, and so on. A purchase sent alone and again in a batch (or the other way round)
        is the same purchase. After a failure on the service's side (500), the purchases behind it are not
        attempted (503 `not_attempted`), so that none is recorded out of order: send them again from there.
        A merchant's or admin's key names `store_id` in each purchase. The whole batch is answered 422 only
        when it is not a list of 1 to 100 purchases; terminals sign the whole body.
        """
        actor = current_actor()
        results: list[str] = []
        failed = False
        # Jobs are handed over, and the batch answered, only once every sale of it is durable.
        with relay_held(db.session), durable_at_end(db.session) as no_wait, one_setting_per_store(db.session):
            for index, sale in enumerate(data["purchases"]):
                external_id = sale.get("external_id") if isinstance(sale, dict) else None
                external_id = external_id if isinstance(external_id, str) else None
                if failed:
                    results.append(_failure(index, external_id, _NOT_ATTEMPTED))
                    continue
                try:
                    outcome = _record(sale, actor, no_wait)
                    db.session.commit()
                except Exception as error:  # noqa: BLE001 - each sale's failure is its own answer
                    db.session.rollback()
                    forget_settings(db.session)
                    problem = _problem(error, index)
                    failed = problem["code"] >= 500  # the rest would be recorded out of order
                    results.append(_failure(index, external_id, problem))
                else:
                    results.append(_success(index, external_id, outcome))
        return Response('{"results": [' + ", ".join(results) + "]}", status=200, mimetype="application/json")


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
        outcome = return_purchase(
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
