"""Imports every model so that the metadata is complete (migrations, tests)."""

from loyalty.audit.models import AuditEvent
from loyalty.earning.models import Rule, RulesetState, RuleSimulation, RuleVersion
from loyalty.keys.models import ApiKey
from loyalty.ledger.models import Adjustment, ExpiryWarning, LedgerEntry, RuleBudget, RuleUsage
from loyalty.logins.models import LoginToken
from loyalty.members.models import Member
from loyalty.merchants.models import Merchant, MerchantApplication, Store, Terminal, TerminalSecret
from loyalty.notifications.models import Notification
from loyalty.outbox.models import OutboxMessage
from loyalty.program.models import Program
from loyalty.purchases.models import Purchase, PurchaseItem, PurchaseReturn
from loyalty.rewards.models import Redemption, Reward
from loyalty.settlement.models import MerchantFunding, PrepaidTopUp, Statement, StatementLine
from loyalty.staff.models import StaffUser
from loyalty.tiers.models import Tier

__all__ = [
    "Adjustment",
    "ApiKey",
    "AuditEvent",
    "ExpiryWarning",
    "LedgerEntry",
    "LoginToken",
    "Member",
    "Merchant",
    "MerchantApplication",
    "MerchantFunding",
    "Notification",
    "OutboxMessage",
    "PrepaidTopUp",
    "Program",
    "Purchase",
    "PurchaseItem",
    "PurchaseReturn",
    "Redemption",
    "Reward",
    "Rule",
    "RuleBudget",
    "RuleSimulation",
    "RuleUsage",
    "RuleVersion",
    "RulesetState",
    "StaffUser",
    "Statement",
    "StatementLine",
    "Store",
    "Terminal",
    "TerminalSecret",
    "Tier",
]
