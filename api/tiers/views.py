from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.tiers.schemas import TierListArgs, TierPage, TierSchema, tier_body
from loyalty.actors import Role
from loyalty.tiers import services as tiers
from web.extensions import db

blp = Blueprint("tiers", __name__, url_prefix="/tiers", description="The tiers members climb.")


@blp.route("")
class TiersView(MethodView):
    @blp.arguments(TierListArgs, location="query")
    @blp.response(200, TierPage)
    def get(self, args):
        """The program's tiers, lowest rank first (no key needed: the portal shows them to everyone)."""
        page = tiers.list_tiers_page(db.session, limit=args["limit"], cursor=args["cursor"])
        return {"items": [tier_body(tier) for tier in page.items], "next_cursor": page.next_cursor}

    @requires(Role.ADMIN, Role.MARKETER)
    @blp.arguments(TierSchema(many=True))
    @blp.response(200, TierPage)
    def put(self, data):
        """Replace the whole list of tiers at once (audited with the old and new lists); answers the new list.

        Codes and ranks are unique, and qualifying points rise strictly with rank; a list that breaks this is
        422 with `errors` keyed by the position of each tier at fault, and nothing changes. At most 50 tiers.

        Members holding a tier left out of the list move to the highest remaining tier that needs no more
        qualifying points than it did (a tier renamed at the same threshold keeps its members), or to no tier.
        A review then runs in the background: members who now qualify higher rise at once, and members short
        of their tier's new threshold are warned and keep it for the program's grace period.
        """
        saved = tiers.replace_tiers(db.session, tiers=data, actor=current_actor())
        db.session.commit()
        return {"items": [tier_body(tier) for tier in saved], "next_cursor": None}
