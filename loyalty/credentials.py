"""Who is calling: a key, its merchant's standing and its terminal's signing secrets, in one statement.

Every API request starts here, so the key, the merchant it belongs to and the
terminal it is bound to (with the signing secrets valid now) are read with a
single indexed query instead of one per table. The key is read as a plain row of
the columns a request needs (no ORM object: nothing here changes it but its last
use, written by a plain UPDATE). The program's settings row rides along as an
object: nearly every request reads it later (``get_program``), and finding it in
the session then costs no statement of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Row
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

    key: Row  # the key's columns in _KEY_COLUMNS, as attributes
    merchant_status: str | None  # None for keys of no merchant
    require_signed_requests: bool
    terminal_status: str | None  # None for keys of no terminal
    signing_secrets: tuple[str, ...]  # encrypted; only those valid now
    touched: bool = False  # the key's last use was written in the session, to commit once the request is accepted


# What a request reads of its key: the actor (``actor_for_key``), revocation and the last use.
_KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.role,
    ApiKey.merchant_id,
    ApiKey.store_id,
    ApiKey.terminal_id,
    ApiKey.last_used_at,
    ApiKey.revoked_at,
)

# Built once: every request runs it.
_CREDENTIALS = (
    select(
        *_KEY_COLUMNS,
        Merchant.status.label("merchant_status"),
        Merchant.require_signed_requests,
        Terminal.status.label("terminal_status"),
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
    first = rows[0]
    # The identity map keeps rows only while something refers to them: hold the program's for the session.
    session.info["program"] = first.Program
    if first.revoked_at is not None:
        return None
    touched = touch_key(session, first.id, first.last_used_at, now=now)
    return Credentials(
        key=first,
        merchant_status=first.merchant_status,
        require_signed_requests=bool(first.require_signed_requests),
        terminal_status=first.terminal_status,
        signing_secrets=tuple(row.secret_encrypted for row in rows if row.secret_encrypted is not None),
        touched=touched,
    )
