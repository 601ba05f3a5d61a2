from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import PageArgs, page_body
from api.rules.schemas import (
    RuleCreateSchema,
    RuleListArgs,
    RulePage,
    RulePatchSchema,
    RuleSchema,
    RuleVersionPage,
    SimulateSchema,
    SimulationSchema,
    rule_body,
    simulation_body,
    version_body,
)
from loyalty.actors import Role
from loyalty.earning import queries, services, simulation
from web.extensions import db

blp = Blueprint(
    "rules",
    __name__,
    url_prefix="/rules",
    description=(
        "Earning rules. A rule is saved as a draft (version 1), activated, paused and activated again. Changing a "
        "draft edits it in place; changing an active or paused rule makes a new version, and the versions before "
        "stay for the record (each purchase records the version that scored it). Activation, pause and changes to "
        "an active rule count from the next purchase.\n\n"
        "**Errors.** A body of the wrong shape (a field of the wrong JSON type, a float or a string where a whole "
        "number goes, an unknown field) is 422 `validation_error` with the fields in `errors`. A rule that cannot "
        "work is 422 `invalid_rule`, with `errors` `{field, message, position, line, column, suggestion}`: "
        "`field` is the part at fault (`condition`, `effect.percent`, `limits.per_member.period`...), `position` "
        "the 0-based offset in the condition (with its 1-based `line` and `column`), and `suggestion` the nearest "
        "valid spelling (a fact, a keyword, a value, a field). A merchant's rule beyond the operator's limits "
        "(`merchant_rules` of the program) is `invalid_rule` with `errors.limit` naming the limit.\n\n"
        "**Effects.** `{type: per_amount, points, per_minor}` gives floor(total_minor / per_minor) x points; "
        "`{type: per_item, points, sku}` or `{..., category}` gives points per matching unit; "
        "`{type: multiplier, percent}` (above 100) multiplies the base points, only the highest applying; "
        "`{type: bonus, points}` adds points. **Limits**: `{per_member: {times, period}, budget_points}`, both "
        "optional; `period` is one of day, week, month, year, ever.\n\n"
        "**Scope.** Admin and marketer keys see and write every rule. A merchant key sees and writes only its own "
        "merchant's rules: the operator's rules and other merchants' answer 404, `merchant_id` defaults to its "
        "own, and naming null (operator-wide) is 403."
    ),
)

STAFF = (Role.ADMIN, Role.MARKETER, Role.MERCHANT)


def _body(rule) -> dict:
    return rule_body(rule, services.current_version(db.session, rule))


@blp.route("")
class RulesView(MethodView):
    @requires(*STAFF)
    @blp.arguments(RuleCreateSchema)
    @blp.response(201, RuleSchema)
    @blp.alt_response(403, response="Error", description="A merchant key writing an operator-wide rule.")
    def post(self, data):
        """Save a new rule as a draft (version 1); it counts once activated."""
        rule = services.create_rule(db.session, rule=data, actor=current_actor())
        body = _body(rule)
        db.session.commit()
        return body

    @requires(*STAFF)
    @blp.arguments(RuleListArgs, location="query")
    @blp.response(200, RulePage)
    def get(self, args):
        """List rules, newest first, by `status`, `merchant_id` or `scope`. A merchant key lists its own only."""
        page = queries.list_rules(db.session, **args, actor=current_actor())
        versions = queries.current_versions(db.session, page.items)
        return page_body(page) | {"items": [rule_body(rule, versions[rule.id]) for rule in page.items]}


@blp.route("/simulate")
class RuleSimulateView(MethodView):
    @requires(*STAFF)
    @blp.arguments(SimulateSchema)
    @blp.response(200, SimulationSchema)
    @blp.alt_response(
        202,
        schema=SimulationSchema,
        description="A large period: the simulation runs in the background; `Location` is where to read it.",
    )
    def post(self, data):
        """What a draft rule would have given over the stored purchases of `[from, to)`; nothing is saved.

        The rule is checked as `POST /rules` checks it (422 `invalid_rule`). Each purchase in its scope (its
        merchant's stores, or every store for an operator-wide rule) and window is scored in the order they
        happened, against the rules active now with and without the draft: `purchases_matched` counts those the
        draft fires on, `members_affected` the members who have their points, and `points` is what the period
        would have given with the draft less without it. Up to the service's limit of purchases the figures
        come at once (200, `status: done`); beyond it the answer is 202 with the simulation's `id`, and
        `GET /rules/simulations/{id}` shows its `progress` and, once `done`, the figures. A merchant key
        simulates its own merchant's rules, over its own purchases.
        """
        result = simulation.simulate_rule(
            db.session,
            rule=data["rule"],
            from_=data["from_"],
            to=data["to"],
            sync_limit=current_app.config["SIMULATION_SYNC_LIMIT"],
            actor=current_actor(),
        )
        if isinstance(result, simulation.SimulationResult):
            # A simulation answered at once writes nothing (not even the program's defaults).
            db.session.rollback()
            return simulation_body(result) | {"from_": data["from_"], "to": data["to"]}
        body = simulation_body(result)
        location = url_for("rules.RuleSimulationView", simulation_id=result.id)
        db.session.commit()
        return body, 202, {"Location": location}


@blp.route("/simulations/<simulation_id>")
class RuleSimulationView(MethodView):
    @requires(*STAFF)
    @blp.response(200, SimulationSchema)
    def get(self, simulation_id):
        """A simulation's status and `progress` (`done` of `total` purchases), and its figures once `done`.

        A merchant key reads the simulations of its own merchant's rules only.
        """
        return simulation_body(simulation.get_simulation(db.session, simulation_id, actor=current_actor()))


@blp.route("/<rule_id>")
class RuleView(MethodView):
    @requires(*STAFF)
    @blp.response(200, RuleSchema)
    def get(self, rule_id):
        """Read a rule with its current version."""
        return _body(services.get_rule(db.session, rule_id, actor=current_actor()))

    @requires(*STAFF)
    @blp.arguments(RulePatchSchema)
    @blp.response(200, RuleSchema)
    def patch(self, data, rule_id):
        """Change a rule: a draft in place; an active or paused rule gets a new version (audited either way).

        The fields given replace the current ones (null clears `starts_at`, `ends_at`, `condition` or
        `limits`); `merchant_id` cannot change. A change that changes nothing makes no version.
        """
        rule = services.update_rule(db.session, rule_id=rule_id, changes=data, actor=current_actor())
        body = _body(rule)
        db.session.commit()
        return body


@blp.route("/<rule_id>/versions")
class RuleVersionsView(MethodView):
    @requires(*STAFF)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RuleVersionPage)
    def get(self, args, rule_id):
        """A rule's versions, newest first, each with who wrote it and when."""
        page = queries.list_rule_versions(db.session, rule_id=rule_id, **args, actor=current_actor())
        return page_body(page) | {"items": [version_body(version) for version in page.items]}


@blp.route("/<rule_id>/activate")
class RuleActivateView(MethodView):
    @requires(*STAFF)
    @blp.response(200, RuleSchema)
    @blp.alt_response(422, response="Error", description="A merchant's rule beyond the operator's current limits.")
    def post(self, rule_id):
        """Make a draft or paused rule count from the next purchase (audited). An active rule stays as it is.

        A merchant's rule is checked against the operator's current limits again.
        """
        rule = services.activate_rule(db.session, rule_id=rule_id, actor=current_actor())
        body = _body(rule)
        db.session.commit()
        return body


@blp.route("/<rule_id>/pause")
class RulePauseView(MethodView):
    @requires(*STAFF)
    @blp.response(200, RuleSchema)
    @blp.alt_response(409, response="Error", description="The rule is a draft: it has never been active.")
    def post(self, rule_id):
        """Stop an active rule counting from the next purchase (audited). A paused rule stays as it is."""
        rule = services.pause_rule(db.session, rule_id=rule_id, actor=current_actor())
        body = _body(rule)
        db.session.commit()
        return body
