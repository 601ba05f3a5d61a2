from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from api.auth import requires
from api.common import PageArgs, Schema, Timestamp, page_body, page_schema
from loyalty.actors import Role
from loyalty.notifications.services import get_notification, list_notifications
from web.extensions import db

blp = Blueprint("notifications", __name__, url_prefix="/notifications", description="Messages sent to members (admin).")


class NotificationSchema(Schema):
    id = fields.String()
    member_id = fields.String(allow_none=True)
    channel = fields.String()
    recipient = fields.String(allow_none=True)
    template = fields.String()
    status = fields.String()
    backend = fields.String(allow_none=True)
    created_at = Timestamp()
    sent_at = Timestamp(allow_none=True)


class NotificationArgs(PageArgs):
    member_id = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "sent", "cancelled"]))


NotificationPage = page_schema(NotificationSchema, "NotificationPage")


@blp.route("")
class NotificationsView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(NotificationArgs, location="query")
    @blp.response(200, NotificationPage)
    def get(self, args):
        """Notifications, newest first (in development, what would have been sent)."""
        return page_body(list_notifications(db.session, **args))


@blp.route("/<notification_id>")
class NotificationView(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, NotificationSchema)
    def get(self, notification_id):
        """One notification."""
        return get_notification(db.session, notification_id)
