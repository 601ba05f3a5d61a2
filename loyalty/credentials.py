"""Who is calling: a key, its merchant's standing and its terminal's signing secrets, in one statement.

Every API request starts here, so the key, the merchant it belongs to and the
terminal it is bound to (with the signing secrets valid now) are read with a
single indexed query instead of one per table. The program's settings row rides
along: nearly every request reads it later (``get_program``), and finding it in
the session then costs no statement of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.keys.models import ApiKey
from loyalty.keys.services import KEY_PREFIX, hash_secret, touch_key
from loyalty.merchants.models import Merchant, Terminal, TerminalSecret
from loyalty.program.models import Program
from loyalty.program.services import PROGRAM_ID


@dataclass(frozen=True)
class Credentials:
    """An active key and what its requests are judged on."""

    key: ApiKey
    merchant_status: str | None  # None for keys of no merchant
    require_signed_requests: bool
    terminal_status: str | None  # None for keys of no terminal
    signing_secrets: tuple[str, ...]  # encrypted; only those valid now
    touched: bool = False  # the key's last use was written in the session, to commit once the request is accepted


# Built once: every request runs it.
_CREDENTIALS = (
    select(
        ApiKey,
        Merchant.status,
        Merchant.require_signed_requests,
        Terminal.status,
        TerminalSecret.secret_encrypted,
        Program,
    )
    .outerjoin(Merchant, Merchant.id == ApiKey.merchant_id)
    .outerjoin(Terminal, and_(Terminal.id == ApiKey.terminal_id, Terminal.merchant_id == ApiKey.merchant_id))
    .outerjoin(
        TerminalSecret,
        and_(
            TerminalSecret.terminal_id == Terminal.id,
            or_(TerminalSecret.expires_at.is_(None), TerminalSecret.expires_at > bindparam("now")),
        ),
    )
    .outerjoin(Program, Program.id == PROGRAM_ID)
    .where(ApiKey.secret_hash == bindparam("secret_hash"))
)


def load_credentials(session: Session, secret: str, *, now: datetime | None = None) -> Credentials | None:
    """The active key with this secret and its merchant and terminal, recording its use; None if there is none."""
    if not secret.startswith(KEY_PREFIX):
        return None
    now = now or utcnow()
    rows = session.execute(_CREDENTIALS, {"secret_hash": hash_secret(secret), "now": now}).all()
    if not rows:
        return None
    key, merchant_status, require_signed, terminal_status, _, program = rows[0]
    # The identity map keeps rows only while something refers to them: hold the program's for the session.
    session.info["program"] = program
    if key.revoked_at is not None:
        return None
    touched = touch_key(session, key, now=now)
    return Credentials(
        key=key,
        merchant_status=merchant_status,
        require_signed_requests=bool(require_signed),
        terminal_status=terminal_status,
        signing_secrets=tuple(row[4] for row in rows if row[4] is not None),
        touched=touched,
    )
