"""What a basket would earn: the facts of a purchase, the active rules, and a decision, with nothing written."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.db import utcnow
from loyalty.earning.models import RulesetState
from loyalty.earning.ruleset import NEVER_CHANGED, RULESET_STATE_ID, active_ruleset
from loyalty.errors import CurrencyMismatch, Forbidden, NotFound, ValidationFailed
from loyalty.ledger.counters import campaign_rules_held_out, read_budgets, read_usage
from loyalty.members.services import find_member
from loyalty.merchants.models import Store
from loyalty.merchants.services import get_store
from loyalty.program.models import Program
from loyalty.program.services import PROGRAM_ID, get_program
from loyalty.settlement.funding import PREPAID_COLUMNS, Prepaid, prepaid_from_row
from loyalty.settlement.models import MerchantFunding
from loyalty.text import usable_id
from loyalty.tiers.models import Tier
from loyalty.webhooks.models import WebhookSubscription
from rules import FactError, Line, RuleSet, SkipReason, member_facts, purchase_facts

# The member facts of an anonymous purchase: nothing is known of the shopper, so no
# tier, no purchases before, enrolled today, never bought before, no birthday. The
# lifecycle stage is its own value so a rule can include or exclude anonymous baskets.
ANONYMOUS_LIFECYCLE_STAGE = "anonymous"
IDENTIFIERS = ("card_number", "member_id", "phone", "email")


@dataclass(frozen=True)
class SkippedRule:
    """A rule in scope that gave no points, and why."""

    rule_id: str
    rule_name: str
    reason: SkipReason


@dataclass(frozen=True)
class Quote:
    """The points a basket would earn now; ``breakdown`` sums exactly to ``points``."""

    points: int
    breakdown: tuple[Line, ...]
    skipped: tuple[SkippedRule, ...]
    ruleset_version: int
    store_id: str
    merchant_id: str
    member_id: str | None


def _named_store_id(store_id: str | None, actor: Actor) -> str:
    if actor.role is Role.TERMINAL:
        if store_id is not None and store_id != actor.store_id:
            raise NotFound("No such store.")
        return actor.store_id
    if not store_id:
        raise ValidationFailed(
            "Name the store of the purchase (store_id); only a terminal's key implies it.",
            errors={"store_id": ["Required for this key."]},
        )
    return store_id


def resolve_store(session: Session, *, store_id: str | None, actor: Actor):
    """The store of a purchase: a terminal's own; for other keys the one named (a merchant's own only)."""
    return get_store(session, _named_store_id(store_id, actor), actor=actor)


@dataclass(frozen=True)
class Setting:
    """Where a basket is scored: the store, the program, and the active rules."""

    store: Store
    program: Program
    ruleset: RuleSet
    has_tiers: bool  # whether the program has a tier ladder at all
    funding: Prepaid | None = None  # the merchant's prepaid points, when it has prepaid funding
    has_webhooks: bool = False  # whether the store's merchant subscribes to any partner webhook


def _setting_statement(*, with_program: bool):
    program = (Program,) if with_program else ()
    query = select(
        Store,
        *program,
        RulesetState.version,
        RulesetState.token,
        exists(select(Tier.code)),
        exists(
            select(WebhookSubscription.id).where(
                WebhookSubscription.merchant_id == Store.merchant_id, WebhookSubscription.deleted_at.is_(None)
            )
        ),
        *PREPAID_COLUMNS,
    ).select_from(Store)
    if with_program:
        query = query.outerjoin(Program, Program.id == PROGRAM_ID)
    return (
        query.outerjoin(RulesetState, RulesetState.id == RULESET_STATE_ID)
        .outerjoin(MerchantFunding, MerchantFunding.merchant_id == Store.merchant_id)
        .where(Store.id == bindparam("store_id"))
    )


# Built once: every purchase and quote runs one. An API request's authentication has put the
# program in the session already (``loyalty.credentials``): then its two dozen columns are not read again.
_SETTING = _setting_statement(with_program=True)
_SETTING_KNOWN_PROGRAM = _setting_statement(with_program=False)


_SETTINGS_KEY = "loyalty.purchase_settings"


def purchase_setting(session: Session, *, store_id: str | None, actor: Actor) -> Setting:
    """The store of a purchase (as ``resolve_store``), the program, the active rules and what else applies, at once.

    Every purchase and quote needs all three; they are fetched together because a
    round trip to the database costs more than the rows themselves. The store's
    merchant's prepaid funding comes in the same statement. Inside
    ``one_setting_per_store`` they are read once per store.
    """
    store_id = _named_store_id(store_id, actor)
    settings = session.info.get(_SETTINGS_KEY)
    if settings is not None and (store_id, actor) in settings:
        return settings[(store_id, actor)]
    known = session.info.get("program")
    statement = _SETTING if known is None else _SETTING_KNOWN_PROGRAM
    row = session.execute(statement, {"store_id": store_id}).first() if usable_id(store_id) else None
    if row is None:
        raise NotFound("No such store.")
    if known is None:
        store, program, version, token, has_tiers, has_webhooks, *funding = row
    else:
        program = known
        store, version, token, has_tiers, has_webhooks, *funding = row
    # The same visibility as get_store, on the row just read.
    store = get_store(session, store.id, actor=actor)
    state = (version, token) if token is not None else (0, NEVER_CHANGED)
    setting = Setting(
        store=store,
        program=program if program is not None else get_program(session),
        ruleset=active_ruleset(session, state=state),
        has_tiers=bool(has_tiers),
        funding=prepaid_from_row(store.merchant_id, funding),
        has_webhooks=bool(has_webhooks),
    )
    # A prepaid merchant's balance moves with every sale: read it again for each one.
    if settings is not None and setting.funding is None:
        settings[(store_id, actor)] = setting
    return setting


@contextmanager
def one_setting_per_store(session: Session) -> Iterator[None]:
    """Purchases recorded inside read their store, program and rules once per store: a till's batch of sales.

    The batch is scored as of its first sale, as if its sales had all come at
    that moment, instead of each re-reading what cannot differ between them
    but for a change made while the batch runs.
    """
    session.info[_SETTINGS_KEY] = {}
    try:
        yield
    finally:
        session.info.pop(_SETTINGS_KEY, None)


def forget_settings(session: Session) -> None:
    """Read the setting again for the next purchase: after a rollback, whose rows may have been in it."""
    settings = session.info.get(_SETTINGS_KEY)
    if settings is not None:
        settings.clear()


def basket_facts(
    *,
    store: Any,
    member: Any | None,
    items: Iterable[Mapping[str, Any]],
    total_minor: int,
    currency: str,
    occurred_at: datetime,
) -> dict[str, Any]:
    """The facts rules read about a basket at a store, for a member or anonymous (``member`` None).

    Purchases, quotes and simulations build facts here, so that a rule means the
    same thing everywhere; local days and hours are in the store's timezone.
    """
    timezone = store.timezone
    try:
        facts = purchase_facts(
            items=items,
            total_minor=total_minor,
            currency=currency,
            merchant_id=store.merchant_id,
            store_id=store.id,
            occurred_at=occurred_at,
            timezone=timezone,
        )
        if member is None:
            return facts | member_facts(
                tier=None,
                purchase_count=0,
                enrolled_at=occurred_at,
                last_purchase_at=None,
                lifecycle_stage=ANONYMOUS_LIFECYCLE_STAGE,
                birth_month=None,
                occurred_at=occurred_at,
                timezone=timezone,
            )
        return facts | member_facts(
            tier=member.tier_code,
            purchase_count=member.purchase_count,
            enrolled_at=member.enrolled_at,
            last_purchase_at=member.last_purchase_at,
            lifecycle_stage=member.lifecycle_stage,
            birth_month=member.birth_month,
            occurred_at=occurred_at,
            timezone=timezone,
        )
    except FactError as error:
        raise ValidationFailed(f"The basket cannot be scored: {error}", errors={error.field: [error.message]}) from None


def quote_purchase(
    session: Session,
    *,
    store_id: str | None,
    member: Mapping[str, str] | None,
    occurred_at: datetime | None,
    currency: str,
    total_minor: int,
    items: Iterable[Mapping[str, Any]],
    explain: bool = False,
    actor: Actor,
) -> Quote:
    """Score a basket against the active rules as a purchase would be, writing nothing.

    ``member`` names the member by one of card_number, member_id, phone or email,
    or is None for an anonymous basket. ``explain`` also returns the rules in
    scope that gave nothing, with the reason (not for terminals).
    """
    if explain and actor.role is Role.TERMINAL:
        raise Forbidden("A terminal's key gets the points and breakdown; explanations are for staff keys.")
    setting = purchase_setting(session, store_id=store_id, actor=actor)
    store, ruleset = setting.store, setting.ruleset
    program_currency = setting.program.currency
    if currency != program_currency:
        raise CurrencyMismatch(
            f"The program runs in {program_currency}; this basket is in {currency}.",
            errors={"currency": [f"Must be {program_currency}."]},
        )
    shopper = find_member(session, **{k: v for k, v in (member or {}).items() if k in IDENTIFIERS}) if member else None
    facts = basket_facts(
        store=store,
        member=shopper,
        items=items,
        total_minor=total_minor,
        currency=currency,
        occurred_at=occurred_at or utcnow(),
    )
    # The live counters, read but not changed: a quote never spends a limit or a budget.
    usage = read_usage(session, ruleset, facts, shopper.id if shopper else None)
    # A campaign's rule is quoted only to its treatment group, as it is scored.
    held_out = campaign_rules_held_out(session, ruleset, facts, shopper.id if shopper else None)
    decision = ruleset.score(
        facts,
        usage=usage,
        budget_remaining=read_budgets(session, ruleset, facts),
        explain=explain,
        excluded=held_out or None,
    )
    skipped = tuple(
        SkippedRule(skip.rule_id, ruleset.get(skip.rule_id).name, skip.reason)
        for skip in decision.skipped
        # Other merchants' rules never apply here; listing them would say nothing and show them.
        if skip.reason is not SkipReason.NOT_IN_SCOPE
    )
    return Quote(
        points=decision.points,
        breakdown=decision.breakdown,
        skipped=skipped,
        ruleset_version=ruleset.version,
        store_id=store.id,
        merchant_id=store.merchant_id,
        member_id=shopper.id if shopper else None,
    )
