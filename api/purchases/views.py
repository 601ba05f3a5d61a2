from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.purchases.schemas import PurchaseQuoteSchema, QuoteArgs, QuoteSchema, quote_body
from loyalty.actors import Role
from loyalty.earning.quotes import quote_purchase
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
