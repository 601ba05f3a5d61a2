from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import PageArgs, page_body
from api.webhooks.schemas import (
    CreatedWebhookSchema,
    DeliveryDetailSchema,
    DeliveryListArgs,
    DeliveryPage,
    DeliverySchema,
    WebhookCreateSchema,
    WebhookPage,
    WebhookRotatedSchema,
    WebhookRotateSchema,
    WebhookSchema,
    delivery_body,
    webhook_body,
)
from loyalty.actors import Role
from loyalty.webhooks import services
from web.extensions import db

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="",
    description=(
        "Outgoing webhooks: a merchant (or the operator for it) subscribes an https endpoint to events "
        "(`member.enrolled`, `points.earned`, `points.returned`, `reward.issued`, `reward.used`, `tier.changed`). "
        "Each event is POSTed as JSON `{id, type, created_at, data}` with the headers `Loyalty-Event-Id`, "
        "`Loyalty-Event-Type`, `Loyalty-Delivery-Id` and `Loyalty-Signature: t=<unix seconds>,v1=<hex>`, where "
        '`v1` is HMAC-SHA256(secret, "<t>.<raw body>"); after a rotation a second `v1` by the old secret is sent '
        "until `previous_valid_until`. A 2xx answer is success; anything else is retried with exponential backoff, "
        "and every attempt is in the delivery log. Delivery is at least once: drop a repeated `Loyalty-Event-Id`. "
        "See docs/partner-webhooks.md for the payloads and who receives which event."
    ),
)


@blp.route("/merchants/<merchant_id>/webhooks")
class MerchantWebhooksView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WebhookPage)
    def get(self, args, merchant_id):
        """List a merchant's webhook subscriptions, newest first (never their secrets)."""
        page = services.list_subscriptions(db.session, merchant_id=merchant_id, actor=current_actor(), **args)
        return page_body(page) | {"items": [webhook_body(s) for s in page.items]}

    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, CreatedWebhookSchema)
    @blp.alt_response(409, response="Error", description="The merchant already has 20 subscriptions.")
    def post(self, data, merchant_id):
        """Subscribe an endpoint to events. The answer holds the signing secret, which is never shown again.

        The url must be https on a public host (422 otherwise; a private, loopback or link-local address is
        refused). A merchant key manages its own merchant's subscriptions only.
        """
        subscription, secret = services.create_subscription(
            db.session, merchant_id=merchant_id, **data, actor=current_actor()
        )
        db.session.commit()
        return webhook_body(subscription) | {"secret": secret}


@blp.route("/webhooks/<webhook_id>")
class WebhookView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """Read a webhook subscription (never its secret)."""
        return webhook_body(services.get_subscription(db.session, webhook_id, actor=current_actor()))

    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(204)
    def delete(self, webhook_id):
        """Delete a subscription: nothing more is sent to it, deliveries not yet made are cancelled."""
        services.delete_subscription(db.session, subscription_id=webhook_id, actor=current_actor())
        db.session.commit()


@blp.route("/webhooks/<webhook_id>/rotate-secret")
class WebhookRotateView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(WebhookRotateSchema)
    @blp.response(200, WebhookRotatedSchema)
    def post(self, data, webhook_id):
        """Give a subscription a new signing secret (shown once). Until `previous_valid_until` each delivery
        carries a signature by the old secret as well, so the receiver can switch without refusing any."""
        subscription, secret, until = services.rotate_secret(
            db.session, subscription_id=webhook_id, grace_hours=data["grace_hours"], actor=current_actor()
        )
        db.session.commit()
        return {"webhook_id": subscription.id, "secret": secret, "previous_valid_until": until}


@blp.route("/webhooks/<webhook_id>/deliveries")
class WebhookDeliveriesView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args, webhook_id):
        """The subscription's delivery log, newest first: status, attempts, last answer or error, times."""
        page = services.list_deliveries(db.session, subscription_id=webhook_id, actor=current_actor(), **args)
        return page_body(page) | {"items": [delivery_body(d) for d in page.items]}


@blp.route("/webhook-deliveries/<delivery_id>")
class DeliveryView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(200, DeliveryDetailSchema)
    def get(self, delivery_id):
        """One delivery, with the event it sends."""
        delivery = services.get_delivery(db.session, delivery_id, actor=current_actor())
        return delivery_body(delivery) | {"event": services.event_payload(db.session, delivery.event_id)}


@blp.route("/webhook-deliveries/<delivery_id>/redeliver")
class RedeliverView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT)
    @blp.response(202, DeliverySchema)
    def post(self, delivery_id):
        """Send a delivery's event again, now, as a new delivery in the log (the same `Loyalty-Event-Id`)."""
        delivery = services.redeliver(db.session, delivery_id=delivery_id, actor=current_actor())
        db.session.commit()
        return delivery_body(delivery)
