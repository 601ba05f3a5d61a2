"""Partner funding: who pays for points, and a merchant's prepaid points that its own rules draw on.

Points a merchant's own rules issue are charged to that merchant; points of the
operator's rules to the operator (``loyalty.settlement.statements`` splits them).
A merchant with prepaid funding has a balance of points its rules may still
issue. A purchase at its store draws what its own rules give with one
conditional ``UPDATE ... WHERE prepaid_balance >= :points``: PostgreSQL re-checks
the condition against the latest committed row when purchases race, so the
balance is never overspent (and a CHECK keeps it from going below zero). When
it cannot cover them, the purchase is scored again without the merchant's own
rules, or with no rule at all when the operator chose ``stop``. The draw and
the budgets spent for the first scoring sit in a savepoint that is rolled back
then. A merchant without prepaid funding costs the purchase nothing: its
funding is read by the statement that reads the store (``purchase_setting``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.actors import SYSTEM, Actor
from loyalty.audit.services import record_event
from loyalty.errors import ValidationFailed
from loyalty.merchants.checks import get_merchant, require_admin
from loyalty.notifications.services import queue_notifications
from loyalty.outbox.services import add_task, task
from loyalty.pagination import Page, paginate
from loyalty.settlement.models import MerchantFunding, PrepaidTopUp
from loyalty.staff.models import StaffUser
from loyalty.units import price_of_points
from rules import Decision, RuleSet

WHEN_EXHAUSTED = ("continue", "stop")
LARGEST = 10**15

# Read with the store of every purchase (loyalty.earning.quotes.purchase_setting): null without a funding row.
PREPAID_COLUMNS = (
    MerchantFunding.prepaid,
    MerchantFunding.prepaid_balance,
    MerchantFunding.when_exhausted,
    MerchantFunding.warn_below,
)


@dataclass(frozen=True)
class Prepaid:
    """A merchant's prepaid points as read with the store; the draw itself decides."""

    merchant_id: str
    balance: int
    when_exhausted: str
    warn_below: int | None

    def left_out(self, ruleset: RuleSet, own: Collection[str]) -> Collection[str]:
        """The rules that may not fire while the balance cannot cover the merchant's own."""
        if self.when_exhausted == "stop":
            return frozenset(rule.id for rule in ruleset.scope(self.merchant_id))
        return own

    def settle(
        self, session: Session, ruleset: RuleSet, score: Callable[[Collection[str] | None], Decision]
    ) -> Decision:
        """Score the purchase, drawing its merchant-funded points from the prepaid balance, exactly."""
        own = ruleset.own_rule_ids(self.merchant_id)
        if self.balance <= 0:
            # Already spent when the store was read: no draw can succeed.
            return score(self.left_out(ruleset, own))
        if not own:
            return score(None)
        savepoint = session.begin_nested()
        decision = score(None)
        points = sum(line.points for line in decision.breakdown if line.rule_id in own)
        if points == 0:
            savepoint.commit()
            return decision
        left = draw_prepaid(session, merchant_id=self.merchant_id, points=points)
        if left is not None:
            savepoint.commit()
            if self.warn_below is not None and left < self.warn_below <= left + points:
                # This purchase took the balance below the warning level: tell the merchant's staff, once.
                add_task(session, warn_prepaid_low, merchant_id=self.merchant_id, balance=left)
            return decision
        savepoint.rollback()
        return score(self.left_out(ruleset, own))


def prepaid_from_row(merchant_id: str, columns: Any) -> Prepaid | None:
    """The ``Prepaid`` of the columns ``PREPAID_COLUMNS`` read, or None when the merchant is not prepaid."""
    prepaid, balance, when_exhausted, warn_below = columns
    if not prepaid:
        return None
    return Prepaid(merchant_id, int(balance), when_exhausted, warn_below)


def draw_prepaid(session: Session, *, merchant_id: str, points: int) -> int | None:
    """Take ``points`` from the merchant's prepaid balance if it covers them: what is left, or None. One statement."""
    row = session.execute(
        update(MerchantFunding)
        .where(
            MerchantFunding.merchant_id == merchant_id,
            MerchantFunding.prepaid.is_(True),
            MerchantFunding.prepaid_balance >= points,
        )
        .values(prepaid_balance=MerchantFunding.prepaid_balance - points)
        .returning(MerchantFunding.prepaid_balance)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else int(row[0])


@task(queue="notifications")
def warn_prepaid_low(session: Session, *, merchant_id: str, balance: int) -> None:
    """Tell a merchant's active staff (and its contact address) that its prepaid points run low."""
    merchant = get_merchant(session, merchant_id, actor=SYSTEM)
    funding = session.get(MerchantFunding, merchant_id)
    threshold = funding.warn_below if funding is not None and funding.warn_below is not None else balance
    people = [
        (user.name, user.email)
        for user in session.scalars(
            select(StaffUser).where(StaffUser.merchant_id == merchant_id, StaffUser.status == "active")
        )
    ]
    if not people:
        people = [(merchant.name, merchant.contact_email)]
    queue_notifications(
        session,
        [
            {
                "member_id": None,
                "email": email,
                "phone": None,
                "template": "prepaid_low",
                "data": {"name": name, "merchant": merchant.name, "balance": balance, "threshold": threshold},
            }
            for name, email in people
        ],
    )


# ---- the operator's settings -----------------------------------------------------------------


def get_funding(session: Session, merchant_id: str, *, actor: Actor) -> MerchantFunding:
    """A merchant's funding (its own merchant only, for its staff); the defaults when never set: nothing paid."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    funding = session.get(MerchantFunding, merchant.id)
    if funding is None:
        funding = MerchantFunding(
            merchant_id=merchant.id,
            issue_price_minor=0,
            issue_per_points=1,
            redeem_price_minor=0,
            redeem_per_points=1,
            prepaid=False,
            prepaid_balance=0,
            warn_below=None,
            when_exhausted="continue",
        )
    return funding


def _whole(value: Any, field: str, *, minimum: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= LARGEST:
        raise ValidationFailed(
            f"The {field.replace('_', ' ')} is a whole number of at least {minimum}.",
            errors={field: [f"A whole number, at least {minimum}."]},
        )
    return value


SETTINGS = {
    "issue_price_minor": 0,
    "issue_per_points": 1,
    "redeem_price_minor": 0,
    "redeem_per_points": 1,
}


def update_funding(session: Session, *, merchant_id: str, changes: dict[str, Any], actor: Actor) -> MerchantFunding:
    """Set a merchant's prices, prepaid funding, warning level and what happens when it runs out (the operator's)."""
    require_admin(actor)
    funding = get_funding(session, merchant_id, actor=actor)
    unknown = set(changes) - {*SETTINGS, "prepaid", "warn_below", "when_exhausted"}
    if unknown:
        raise ValidationFailed("Unknown funding field(s).", errors={f: ["Unknown field."] for f in sorted(unknown)})
    clean: dict[str, Any] = {}
    for field, minimum in SETTINGS.items():
        if field in changes:
            clean[field] = _whole(changes[field], field, minimum=minimum)
    if "warn_below" in changes:
        clean["warn_below"] = _whole(changes["warn_below"], "warn_below", minimum=1, optional=True)
    if "prepaid" in changes:
        if not isinstance(changes["prepaid"], bool):
            raise ValidationFailed("prepaid is true or false.", errors={"prepaid": ["Not a boolean."]})
        clean["prepaid"] = changes["prepaid"]
    if "when_exhausted" in changes:
        if changes["when_exhausted"] not in WHEN_EXHAUSTED:
            raise ValidationFailed(
                "When the prepaid points run out, the operator's rules continue or stop.",
                errors={"when_exhausted": ["continue or stop."]},
            )
        clean["when_exhausted"] = changes["when_exhausted"]
    diff = {}
    for field, value in clean.items():
        old = getattr(funding, field)
        if old != value:
            diff[field] = {"old": old, "new": value}
            setattr(funding, field, value)
    if diff:
        session.add(funding)
        session.flush()
        record_event(
            session,
            actor=actor,
            action="merchant_funding.update",
            object_type="merchant",
            object_id=merchant_id,
            merchant_id=merchant_id,
            data=diff,
        )
    return funding


def top_up_prepaid(
    session: Session, *, merchant_id: str, points: int, amount_minor: int, note: str | None = None, actor: Actor
) -> PrepaidTopUp:
    """Add points a merchant has bought to its prepaid balance (one atomic increment), audited."""
    require_admin(actor)
    funding = get_funding(session, merchant_id, actor=actor)
    points = _whole(points, "points", minimum=1)
    amount_minor = _whole(amount_minor, "amount_minor", minimum=0)
    if session.get(MerchantFunding, merchant_id) is None:
        session.add(funding)
        session.flush()
    session.execute(
        update(MerchantFunding)
        .where(MerchantFunding.merchant_id == merchant_id)
        .values(prepaid_balance=MerchantFunding.prepaid_balance + points)
        .execution_options(synchronize_session=False)
    )
    session.refresh(funding)
    top_up = PrepaidTopUp(
        merchant_id=merchant_id,
        points=points,
        amount_minor=amount_minor,
        note=(note or "").strip()[:500] or None,
        actor_name=actor.name,
    )
    session.add(top_up)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="merchant_funding.top_up",
        object_type="merchant",
        object_id=merchant_id,
        merchant_id=merchant_id,
        data={"points": points, "amount_minor": amount_minor, "balance": funding.prepaid_balance},
    )
    return top_up


def list_top_ups(
    session: Session, *, merchant_id: str, limit: int, cursor: str | None, actor: Actor
) -> Page[PrepaidTopUp]:
    """A merchant's prepaid top-ups, newest first."""
    merchant = get_merchant(session, merchant_id, actor=actor)
    query = select(PrepaidTopUp).where(PrepaidTopUp.merchant_id == merchant.id)
    return paginate(session, query, PrepaidTopUp.id, limit=limit, cursor=cursor)


def issue_amount(funding: Any, points: int) -> int:
    """What the merchant pays for ``points`` issued by its own rules (rounded by ``units.price_of_points``)."""
    return price_of_points(points, funding.issue_price_minor, funding.issue_per_points)


def redeem_amount(funding: Any, points: int) -> int:
    """What the operator pays the merchant for ``points`` redeemed at its stores."""
    return price_of_points(points, funding.redeem_price_minor, funding.redeem_per_points)
