"""Rules, funding and purchases for settlement tests: real rules (their merchant decides who pays)."""

from __future__ import annotations

from loyalty.actors import cli_actor
from tests.factories import unique

OPERATOR_BASE = {
    "name": "One point per euro",
    "priority": 0,
    "effect": {"type": "per_amount", "points": 1, "per_minor": 100},
}


def active_rule(session, *, merchant_id: str | None = None, **spec):
    """An active rule (the operator's when ``merchant_id`` is None)."""
    from loyalty.earning.services import activate_rule, create_rule

    body = {"name": unique("Rule "), "effect": {"type": "bonus", "points": 10}} | spec
    if merchant_id is not None:
        body["merchant_id"] = merchant_id
    rule = create_rule(session, rule=body, actor=cli_actor())
    activate_rule(session, rule_id=rule.id, actor=cli_actor())
    session.commit()
    return rule


def set_funding(session, merchant_id: str, **changes):
    from loyalty.settlement.funding import update_funding

    funding = update_funding(session, merchant_id=merchant_id, changes=changes, actor=cli_actor())
    session.commit()
    return funding


def top_up(session, merchant_id: str, points: int, amount_minor: int = 0):
    from loyalty.settlement.funding import top_up_prepaid

    made = top_up_prepaid(session, merchant_id=merchant_id, points=points, amount_minor=amount_minor, actor=cli_actor())
    session.commit()
    return made


def active_rules(session):
    from loyalty.earning.ruleset import active_ruleset

    return active_ruleset(session)
