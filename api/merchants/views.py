from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import PageArgs, page_body
from api.merchants.schemas import (
    ApplicationAcceptedSchema,
    ApplicationCreateSchema,
    ApplicationListArgs,
    ApplicationPage,
    ApplicationSchema,
    ApprovalSchema,
    MerchantListArgs,
    MerchantPage,
    MerchantPatchSchema,
    MerchantSchema,
    RejectSchema,
    StoreCreateSchema,
    StorePage,
    StoreSchema,
)
from api.ratelimits import client_address, limited
from loyalty.actors import PUBLIC, Role
from loyalty.keys.services import list_keys
from loyalty.merchants import services
from web.extensions import db

blp = Blueprint(
    "merchants",
    __name__,
    url_prefix="",
    description=(
        "Partner merchants: a business applies (no key needed), an admin approves it and hands over its merchant "
        "key; the merchant then opens stores and adds terminals. Another merchant's objects answer 404."
    ),
)


@blp.route("/merchants/applications")
class ApplicationsView(MethodView):
    @limited(
        "RATE_LIMIT_MERCHANT_APPLICATIONS",
        "merchant-applications",
        lambda _kwargs: client_address(),
        "Too many applications from this address lately; try again after Retry-After seconds.",
    )
    @blp.arguments(ApplicationCreateSchema)
    @blp.response(202, ApplicationAcceptedSchema)
    def post(self, data):
        """Apply to join the coalition (no key needed); an admin approves or rejects the application.

        One address may send `RATE_LIMIT_MERCHANT_APPLICATIONS` (10 an hour unless configured);
        past it, 429 `rate_limited`.
        """
        application = services.submit_application(db.session, **data, actor=PUBLIC)
        db.session.commit()
        return {"id": application.id, "status": application.status}

    @requires(Role.ADMIN)
    @blp.arguments(ApplicationListArgs, location="query")
    @blp.response(200, ApplicationPage)
    def get(self, args):
        """List applications, newest first, optionally by status."""
        return page_body(services.list_applications(db.session, **args, actor=current_actor()))


@blp.route("/merchants/applications/<application_id>")
class ApplicationView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(200, ApplicationSchema)
    def get(self, application_id):
        """Read an application. A merchant key reads only the application that made its merchant."""
        return services.get_application(db.session, application_id, actor=current_actor())


@blp.route("/merchants/applications/<application_id>/approve")
class ApplicationApproveView(MethodView):
    @requires(Role.ADMIN)
    @blp.response(201, ApprovalSchema)
    @blp.alt_response(409, response="Error", description="The application was already decided.")
    def post(self, application_id):
        """Approve a pending application: creates the merchant and its merchant key, whose secret is in this
        answer only. An application is decided once (409 `invalid_state` after)."""
        merchant, secret = services.approve_application(
            db.session, application_id=application_id, actor=current_actor()
        )
        # The merchant has exactly one key yet: the one just made.
        key = list_keys(db.session, limit=1, cursor=None, role=Role.MERCHANT, merchant_id=merchant.id).items[0]
        db.session.commit()
        return {"merchant_id": merchant.id, "api_key_id": key.id, "api_key": secret}


@blp.route("/merchants/applications/<application_id>/reject")
class ApplicationRejectView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(RejectSchema)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(409, response="Error", description="The application was already decided.")
    def post(self, data, application_id):
        """Reject a pending application, with an optional note. An application is decided once (409 after)."""
        application = services.reject_application(
            db.session, application_id=application_id, note=data["note"], actor=current_actor()
        )
        db.session.commit()
        return application


@blp.route("/merchants")
class MerchantsView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER)
    @blp.arguments(MerchantListArgs, location="query")
    @blp.response(200, MerchantPage)
    def get(self, args):
        """List merchants, newest first."""
        return page_body(services.list_merchants(db.session, **args, actor=current_actor()))


@blp.route("/merchants/<merchant_id>")
class MerchantView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT)
    @blp.response(200, MerchantSchema)
    def get(self, merchant_id):
        """Read a merchant. A merchant key reads only its own."""
        return services.get_merchant(db.session, merchant_id, actor=current_actor())

    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(MerchantPatchSchema)
    @blp.response(200, MerchantSchema)
    def patch(self, data, merchant_id):
        """Change a merchant (audited). A merchant key may change its own `contact_email` and `website`;
        `name`, `category`, `status` and `require_signed_requests` are the admin's."""
        merchant = services.update_merchant(db.session, merchant_id=merchant_id, changes=data, actor=current_actor())
        db.session.commit()
        return merchant


@blp.route("/merchants/<merchant_id>/stores")
class MerchantStoresView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, StorePage)
    def get(self, args, merchant_id):
        """List a merchant's stores, newest first."""
        return page_body(services.list_stores(db.session, merchant_id=merchant_id, **args, actor=current_actor()))

    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(StoreCreateSchema)
    @blp.response(201, StoreSchema)
    @blp.alt_response(409, response="Error", description="The merchant is suspended.")
    def post(self, data, merchant_id):
        """Open a store. Its IANA timezone decides local days and hours for earning rules (422 if unknown)."""
        store = services.add_store(db.session, merchant_id=merchant_id, **data, actor=current_actor())
        db.session.commit()
        return store
