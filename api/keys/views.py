from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.keys.schemas import CreatedKeySchema, KeyCreateSchema, KeyListArgs, KeyPage, KeySchema
from loyalty.actors import Role
from loyalty.errors import ValidationFailed
from loyalty.keys import services
from loyalty.merchants.services import get_merchant
from web.extensions import db

blp = Blueprint("keys", __name__, url_prefix="/keys", description="API keys (admin).")


@blp.route("")
class KeysView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(KeyListArgs, location="query")
    @blp.response(200, KeyPage)
    def get(self, args):
        """List keys, newest first. Secrets are never shown again."""
        role = Role(args["role"]) if args["role"] else None
        page = services.list_keys(
            db.session, limit=args["limit"], cursor=args["cursor"], role=role, merchant_id=args["merchant_id"]
        )
        return page_body(page)

    @requires(Role.ADMIN)
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, CreatedKeySchema)
    def post(self, data):
        """Create an admin, marketer or merchant key; the secret is in this answer only."""
        role = Role(data["role"])
        merchant_id = data["merchant_id"] or None  # "" names no merchant
        if role is Role.MERCHANT:
            if not merchant_id:
                raise ValidationFailed("A merchant key names its merchant.", errors={"merchant_id": ["Required."]})
            get_merchant(db.session, merchant_id, actor=current_actor())
        elif merchant_id:
            raise ValidationFailed(
                "Only merchant keys belong to a merchant.", errors={"merchant_id": ["Not allowed for this role."]}
            )
        key, secret = services.create_key(
            db.session, role=role, name=data["name"], merchant_id=merchant_id, actor=current_actor()
        )
        db.session.commit()
        return {**{name: getattr(key, name) for name in KeySchema().fields}, "secret": secret}


@blp.route("/<key_id>")
class KeyView(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, KeySchema)
    def get(self, key_id):
        """Read one key."""
        return services.get_key(db.session, key_id)


@blp.route("/<key_id>/revoke")
class KeyRevokeView(MethodView):
    @requires(Role.ADMIN)
    @blp.response(200, KeySchema)
    def post(self, key_id):
        """Revoke a key at once."""
        key = services.revoke_key(db.session, key_id=key_id, actor=current_actor())
        db.session.commit()
        return key
