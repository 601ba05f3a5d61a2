from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.redemptions.schemas import (
    CancelledSchema,
    MemberRedemptionArgs,
    RedemptionCreateSchema,
    RedemptionPage,
    RedemptionReceiptSchema,
    RedemptionSchema,
    UseSchema,
    redemption_body,
)
from loyalty.actors import Role
from loyalty.errors import NotFound
from loyalty.members.services import get_member
from loyalty.qr import qr_svg
from loyalty.rewards import services as redemptions
from loyalty.rewards import usage
from web.extensions import db

blp = Blueprint(
    "redemptions",
    __name__,
    description=(
        "Points spent: on a reward, which issues a code to use once at a till, or as payment at the till at the "
        "program's redemption rate. The points leave the available balance at once, never taking it below zero "
        "however many redemptions arrive together.\n\n"
        "**Idempotency.** Every `POST /redemptions` carries an `idempotency_key`, unique per member. The same key "
        "with the same body answers 200 with the identical body and `Idempotent-Replayed: true`; with a different "
        "body (or from another merchant's till), 409 `idempotency_conflict`. A redemption takes effect once.\n\n"
        "**Scope.** A terminal redeems its merchant's rewards and the operator's (another merchant's is 404), and "
        "uses codes of those rewards only. Merchant and terminal keys read the redemptions made or used at their "
        "merchant's stores, or of its rewards; others are 404."
    ),
)

_IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600"}


def _receipt_response(outcome, status: int) -> Response:
    """The stored receipt, byte for byte; a replay is 200 with ``Idempotent-Replayed: true``."""
    response = Response(outcome.receipt_json, status=200 if outcome.replayed else status, mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/redemptions")
class RedemptionsView(MethodView):
    @requires(Role.ADMIN, Role.TERMINAL)
    @blp.arguments(RedemptionCreateSchema)
    @blp.response(201, RedemptionReceiptSchema)
    @blp.alt_response(200, schema=RedemptionReceiptSchema, description="A replay: the same key and body again.")
    @blp.alt_response(404, response="Error", description="`member_not_found`, or no such reward or store here.")
    @blp.alt_response(409, response="Error", description="`idempotency_conflict`; the member's account is closed.")
    def post(self, data):
        """Redeem a reward (`reward_id`) or pay with points (`points`) for a member.

        A reward answers 201 `{id, code, status: "issued", points, expires_at, balance}`: the points leave the
        available balance at once, and the code is used once at a till (`POST /redemptions/use`) before it
        expires. 422 `reward_unavailable` when the reward is archived, outside its window, out of stock, for
        another tier or over the member's limit.

        Points as payment answer 201 `{id, value_minor, currency, balance}`: with the program's `redemption_rate`
        `{points: P, value_minor: V}`, `points` are worth points x V / P minor units, rounded down; all the points
        sent are taken. Points worth less than one minor unit are a 422.

        Not enough available points: 422 `insufficient_points`. Whatever the error, nothing changes.
        """
        actor = current_actor()
        common = {
            "member_id": data["member_id"],
            "idempotency_key": data["idempotency_key"],
            "fingerprint": redemptions.request_hash(request.get_json()),
            "store_id": data.get("store_id"),
            "actor": actor,
        }
        if "reward_id" in data:
            outcome = redemptions.redeem_reward(db.session, reward_id=data["reward_id"], **common)
        else:
            outcome = redemptions.pay_with_points(db.session, points=data["points"], **common)
        db.session.commit()
        return _receipt_response(outcome, 201)


@blp.route("/redemptions/use")
class RedemptionUseView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(UseSchema)
    @blp.response(200, RedemptionSchema)
    @blp.alt_response(404, response="Error", description="An unknown code, or another merchant's reward.")
    @blp.alt_response(
        409, response="Error", description="`already_used`, `redemption_cancelled` or `redemption_expired`."
    )
    def post(self, data):
        """Mark a reward's code used, once, at the till.

        A merchant's reward is usable only at that merchant's stores; an operator reward at any. A second use is
        409 `already_used`; a cancelled code 409 `redemption_cancelled`, an expired one 409 `redemption_expired`.
        A till that lost the answer sends the same `use_key` again and gets the first answer's 200 with
        `Idempotent-Replayed: true`.
        """
        redemption, replayed = usage.use_redemption(
            db.session,
            code=data["code"],
            store_id=data.get("store_id"),
            use_key=data.get("use_key"),
            actor=current_actor(),
        )
        body = redemption_body(redemption)
        db.session.commit()
        return (body, 200, {"Idempotent-Replayed": "true"}) if replayed else body


@blp.route("/redemptions/<redemption_id>")
class RedemptionView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.response(200, RedemptionSchema)
    def get(self, redemption_id):
        """Read a redemption as it stands now: issued, used, cancelled, or a completed payment."""
        return redemption_body(redemptions.get_redemption(db.session, redemption_id, actor=current_actor()))


@blp.route("/redemptions/<redemption_id>/qr.svg")
class RedemptionQrView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.response(200, content_type="image/svg+xml", description="A QR code of the redemption's code.")
    def get(self, redemption_id):
        """The reward's code as an SVG QR code, to show at the till. A payment has no code (404)."""
        redemption = redemptions.get_redemption(db.session, redemption_id, actor=current_actor())
        if redemption.code is None:
            raise NotFound("This redemption has no code.")
        return Response(qr_svg(redemption.code), mimetype="image/svg+xml", headers=_IMAGE_HEADERS)


@blp.route("/redemptions/<redemption_id>/cancel")
class RedemptionCancelView(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, CancelledSchema)
    @blp.alt_response(409, response="Error", description="`already_used`, or a payment (`invalid_state`).")
    def post(self, redemption_id):
        """Cancel an unused reward redemption: the points come back at once and the stock is freed (audited).

        The points keep the expiry they had. A campaign's gift (`granted_by_campaign_id`) gives no points back:
        they were the campaign's, credited only to be spent on it. Cancelling a cancelled redemption changes
        nothing.
        """
        redemption, balance = usage.cancel_redemption(db.session, redemption_id=redemption_id, actor=current_actor())
        body = redemption_body(redemption) | {"balance": balance.as_dict()}
        db.session.commit()
        return body


@blp.route("/members/<member_id>/redemptions")
class MemberRedemptionsView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER)
    @blp.arguments(MemberRedemptionArgs, location="query")
    @blp.response(200, RedemptionPage)
    def get(self, args, member_id):
        """A member's redemptions, newest first, optionally of one `kind` or `status`."""
        get_member(db.session, member_id)
        page = redemptions.list_member_redemptions(db.session, member_id=member_id, **args)
        return page_body(page) | {"items": [redemption_body(r) for r in page.items]}
