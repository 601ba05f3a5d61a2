from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.timeline.schemas import TimelineArgs, TimelinePage
from loyalty.actors import Role
from loyalty.members.services import get_member
from loyalty.timeline.queries import member_timeline
from web.extensions import db

blp = Blueprint(
    "timeline",
    __name__,
    url_prefix="/members",
    description=(
        "A member's 360-degree timeline: purchases at every partner, points, redemptions, tier and lifecycle "
        "stage changes, campaign messages, claims, service cases and notes, newest first. For the operator's "
        "admin and marketer keys only: it spans every merchant, so merchant and terminal keys are refused."
    ),
)


@blp.route("/<member_id>/timeline")
class MemberTimelineView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER)
    @blp.arguments(TimelineArgs, location="query")
    @blp.response(200, TimelinePage)
    def get(self, args, member_id):
        """Everything about the member, newest first (by `at`, then kind, then id), optionally of some `kinds`.

        Pages follow `next_cursor` without gaps or repeats, whatever the mix of kinds; a cursor stays valid with
        another `kinds` filter.
        """
        get_member(db.session, member_id)
        kinds = [kind.strip() for kind in args["kinds"].split(",") if kind.strip()] if args["kinds"] else None
        page = member_timeline(db.session, member_id=member_id, limit=args["limit"], cursor=args["cursor"], kinds=kinds)
        return {"items": [item.as_dict() for item in page.items], "next_cursor": page.next_cursor}
