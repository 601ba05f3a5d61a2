"""Reading earning rules and their versions."""

from __future__ import annotations

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.earning.models import Rule, RuleVersion
from loyalty.earning.services import STATUSES, get_rule
from loyalty.errors import ValidationFailed
from loyalty.pagination import Page, decode_cursor, encode_cursor, paginate

SCOPES = ("operator", "merchants")


def list_rules(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    merchant_id: str | None = None,
    scope: str | None = None,
    search: str | None = None,
    actor: Actor,
) -> Page[Rule]:
    """Rules, newest first; a merchant lists only its own.

    ``scope`` ``operator`` keeps the operator-wide rules, ``merchants`` the
    merchants' own; ``merchant_id`` one merchant's; ``search`` the rules whose
    current name contains it (any case), or the rule of that id.
    """
    query = select(Rule)
    if search:
        current = (RuleVersion.rule_id == Rule.id) & (RuleVersion.version == Rule.version)
        query = query.join(RuleVersion, current).where(
            or_(func.lower(RuleVersion.name).contains(search.strip().lower(), autoescape=True), Rule.id == search)
        )
    if actor.role in (Role.MERCHANT, Role.TERMINAL):
        query = query.where(Rule.merchant_id == actor.merchant_id)
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"Unknown status {status!r}.", errors={"status": ["Unknown status."]})
        query = query.where(Rule.status == status)
    if merchant_id:
        query = query.where(Rule.merchant_id == merchant_id)
    if scope:
        if scope not in SCOPES:
            raise ValidationFailed(f"Unknown scope {scope!r}.", errors={"scope": ["operator or merchants."]})
        query = query.where(Rule.merchant_id.is_(None) if scope == "operator" else Rule.merchant_id.is_not(None))
    return paginate(session, query, Rule.id, limit=limit, cursor=cursor)


def current_versions(session: Session, rules: list[Rule]) -> dict[str, RuleVersion]:
    """The current version of each of these rules, by rule id, in one query."""
    if not rules:
        return {}
    pairs = [(rule.id, rule.version) for rule in rules]
    query = select(RuleVersion).where(tuple_(RuleVersion.rule_id, RuleVersion.version).in_(pairs))
    return {version.rule_id: version for version in session.scalars(query)}


def list_rule_versions(
    session: Session, *, rule_id: str, limit: int, cursor: str | None, actor: Actor
) -> Page[RuleVersion]:
    """A rule's versions, newest first."""
    rule = get_rule(session, rule_id, actor=actor)
    query = select(RuleVersion).where(RuleVersion.rule_id == rule.id)
    if cursor:
        after = decode_cursor(cursor)
        if not after.isdigit() or len(after) > 9:
            raise ValidationFailed(
                "The cursor is not one this service gave out.", errors={"cursor": ["Invalid cursor."]}
            )
        query = query.where(RuleVersion.version < int(after))
    rows = list(session.scalars(query.order_by(RuleVersion.version.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(str(rows[-1].version)) if more and rows else None)
