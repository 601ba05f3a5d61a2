"""Imports every model so that the metadata is complete (migrations, tests)."""

from loyalty.accounts.models import MarketingConsent, MemberLogin
from loyalty.analytics.models import AnalyticsRun, LifecycleStageChange, MemberAnalytics
from loyalty.audit.models import AuditEvent
from loyalty.campaigns.models import Campaign, CampaignMember, Contact
from loyalty.cases.models import ServiceCase, ServiceNote
from loyalty.connectors.models import Connector, ConnectorEvent, ConnectorSecret
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
from loyalty.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription

__all__ = [
    "Adjustment",
    "AnalyticsRun",
    "ApiKey",
    "AuditEvent",
    "Campaign",
    "CampaignMember",
    "Connector",
    "ConnectorEvent",
    "ConnectorSecret",
    "Contact",
    "ExpiryWarning",
    "LedgerEntry",
    "LifecycleStageChange",
    "LoginToken",
    "MarketingConsent",
    "Member",
    "MemberAnalytics",
    "MemberLogin",
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
    "ServiceCase",
    "ServiceNote",
    "StaffUser",
    "Statement",
    "StatementLine",
    "Store",
    "Terminal",
    "TerminalSecret",
    "Tier",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
