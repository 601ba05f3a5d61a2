from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from api.auth import requires
from api.common import PageArgs, Schema, Timestamp, page_body, page_schema
from loyalty.actors import Role
from loyalty.audit.services import list_events
from web.extensions import db

blp = Blueprint("audit", __name__, url_prefix="/audit-events", description="The audit trail (admin).")


class AuditEventSchema(Schema):
    id = fields.String()
    created_at = Timestamp()
    actor_kind = fields.String()
    actor_name = fields.String()
    actor_role = fields.String(allow_none=True)
    actor_key_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String(allow_none=True)
    merchant_id = fields.String(allow_none=True)
    data = fields.Dict()


class AuditArgs(PageArgs):
    object_type = fields.String(load_default=None)
    object_id = fields.String(load_default=None)
    action = fields.String(load_default=None)


AuditPage = page_schema(AuditEventSchema, "AuditEventPage")


@blp.route("")
class AuditView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditPage)
    def get(self, args):
        """Every key and administrative action, newest first."""
        return page_body(list_events(db.session, **args))
