"""The public API (v1): flask-smorest blueprints under ``/api/v1``."""

from __future__ import annotations

import swagger_ui_bundle
from apispec import BasePlugin
from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api

from api import errors
from api.common import ErrorEnvelope

API_PREFIX = "/api/v1"


class ErrorResponsesPlugin(BasePlugin):
    """Document the error envelope: 401/403/429 where a key is needed, 404 on paths
    with ids, 422 where there is input."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            codes = []
            if operation.get("security"):
                # 429: an address that presented bad keys too often lately (api.ratelimits).
                codes += ["401", "403", "429"]
            if "{" in (path or ""):
                codes.append("404")
            if "requestBody" in operation or operation.get("parameters"):
                codes.append("422")
            for code in codes:
                responses.setdefault(code, {"$ref": "#/components/responses/Error"})


class LoyaltyApi(Api):
    ERROR_SCHEMA = ErrorEnvelope

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


def create_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Coalition loyalty API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{API_PREFIX}/docs/static/",
        API_SPEC_OPTIONS={
            "info": {"description": "Earn, track and redeem points across a coalition of merchants."},
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
        },
    )
    api = LoyaltyApi(spec_kwargs={"extra_plugins": [ErrorResponsesPlugin()]})
    api.init_app(app)
    api.spec.components.response(
        "Error",
        {
            "description": "The error envelope",
            "content": {"application/json": {"schema": "Error"}},
        },
    )
    errors.register(app)

    # Swagger UI's scripts are served from the installed package, not a CDN.
    static = Blueprint("api_docs_static", __name__)

    @static.route(f"{API_PREFIX}/docs/static/<path:filename>")
    def swagger_static(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    app.register_blueprint(static)

    from api.analytics.views import blp as analytics_blp
    from api.audit.views import blp as audit_blp
    from api.campaigns.views import blp as campaigns_blp
    from api.cases.views import blp as cases_blp
    from api.connectors.views import blp as connectors_blp
    from api.health import bp as health_bp
    from api.keys.views import blp as keys_blp
    from api.members.views import blp as members_blp
    from api.merchants.views import blp as merchants_blp
    from api.notifications.views import blp as notifications_blp
    from api.program.views import blp as program_blp
    from api.purchases.views import blp as purchases_blp
    from api.redemptions.views import blp as redemptions_blp
    from api.rewards.views import blp as rewards_blp
    from api.rules.views import blp as rules_blp
    from api.statements.views import blp as statements_blp
    from api.stores.views import blp as stores_blp
    from api.tiers.views import blp as tiers_blp
    from api.timeline.views import blp as timeline_blp
    from api.webhooks.views import blp as webhooks_blp

    for blp in (
        program_blp,
        keys_blp,
        members_blp,
        merchants_blp,
        stores_blp,
        notifications_blp,
        audit_blp,
        rules_blp,
        purchases_blp,
        rewards_blp,
        redemptions_blp,
        tiers_blp,
        statements_blp,
        webhooks_blp,
        connectors_blp,
        campaigns_blp,
        cases_blp,
        timeline_blp,
        analytics_blp,
    ):
        api.register_blueprint(blp, url_prefix=API_PREFIX + (blp.url_prefix or ""))
    app.register_blueprint(health_bp)
    return api
