from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.campaigns.schemas import (
    AudienceEstimateSchema,
    AudienceSizeSchema,
    CampaignCreateSchema,
    CampaignListArgs,
    CampaignPage,
    CampaignPatchSchema,
    CampaignResultsSchema,
    CampaignSchema,
    campaign_body,
)
from api.common import page_body
from loyalty.actors import Role
from loyalty.campaigns import results, services
from loyalty.campaigns.audience import count_audience
from web.extensions import db

blp = Blueprint(
    "campaigns",
    __name__,
    url_prefix="/campaigns",
    description=(
        "Retention campaigns (admin and marketer keys). A campaign is written as a draft (audience, offer, control "
        "share, budget, schedule, channels and message), then launched: at once, or at `starts_at`. The audience is "
        "drawn in the background; a stable share of it (`control_share_pct`) is held out as the control group and "
        "never receives anything; the treatment group gets the offer and the message on each channel it consents "
        "to, never beyond the program's contact cap. `GET /campaigns/{id}` shows the launch's `progress`, and "
        "`/results` the lift measured against the control group. docs/campaigns.md has the details."
    ),
)

STAFF = (Role.ADMIN, Role.MARKETER)


@blp.route("")
class CampaignsView(MethodView):
    @requires(*STAFF)
    @blp.arguments(CampaignCreateSchema)
    @blp.response(201, CampaignSchema)
    def post(self, data):
        """Save a new campaign as a draft (audited)."""
        campaign = services.create_campaign(db.session, data=data, actor=current_actor())
        body = campaign_body(campaign)
        db.session.commit()
        return body

    @requires(*STAFF)
    @blp.arguments(CampaignListArgs, location="query")
    @blp.response(200, CampaignPage)
    def get(self, args):
        """List campaigns, newest first, by `status` or a part of the name (`q`)."""
        page = services.list_campaigns(db.session, **args)
        return page_body(page) | {"items": [campaign_body(c) for c in page.items]}


@blp.route("/audience-size")
class AudienceSizeView(MethodView):
    @requires(*STAFF)
    @blp.arguments(AudienceEstimateSchema)
    @blp.response(200, AudienceSizeSchema)
    def post(self, data):
        """How many members an audience filter selects now (nothing is saved)."""
        members = count_audience(db.session, data["audience"])
        db.session.rollback()
        return {"members": members}


@blp.route("/<campaign_id>")
class CampaignView(MethodView):
    @requires(*STAFF)
    @blp.response(200, CampaignSchema)
    def get(self, campaign_id):
        """Read a campaign with its launch's progress."""
        return campaign_body(services.get_campaign(db.session, campaign_id))

    @requires(*STAFF)
    @blp.arguments(CampaignPatchSchema)
    @blp.response(200, CampaignSchema)
    @blp.alt_response(409, response="Error", description="The campaign is no longer a draft.")
    def patch(self, data, campaign_id):
        """Change a draft campaign (audited); the fields given replace the current ones."""
        campaign = services.update_campaign(db.session, campaign_id=campaign_id, changes=data, actor=current_actor())
        body = campaign_body(campaign)
        db.session.commit()
        return body


@blp.route("/<campaign_id>/launch")
class CampaignLaunchView(MethodView):
    @requires(*STAFF)
    @blp.response(200, CampaignSchema)
    @blp.alt_response(409, response="Error", description="The campaign is not a draft, or its end has passed.")
    def post(self, campaign_id):
        """Launch a draft: `running` at once, or `scheduled` until its `starts_at` (audited)."""
        campaign = services.launch_campaign(db.session, campaign_id=campaign_id, actor=current_actor())
        body = campaign_body(campaign)
        db.session.commit()
        return body


@blp.route("/<campaign_id>/cancel")
class CampaignCancelView(MethodView):
    @requires(*STAFF)
    @blp.response(200, CampaignSchema)
    @blp.alt_response(409, response="Error", description="The campaign has already ended or been cancelled.")
    def post(self, campaign_id):
        """Stop a campaign: no more deliveries, its rule stops counting; what was given stays (audited)."""
        campaign = services.cancel_campaign(db.session, campaign_id=campaign_id, actor=current_actor())
        body = campaign_body(campaign)
        db.session.commit()
        return body


@blp.route("/<campaign_id>/results")
class CampaignResultsView(MethodView):
    @requires(*STAFF)
    @blp.response(200, CampaignResultsSchema)
    def get(self, campaign_id):
        """Treatment against control over the measurement window: conversion, revenue, cost, lift and return."""
        campaign = services.get_campaign(db.session, campaign_id)
        return results.campaign_results(db.session, campaign)
