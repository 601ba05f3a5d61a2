"""Data factories for tests: build through the services, as the product does."""

from __future__ import annotations

import itertools

from loyalty.actors import Role, cli_actor

_counter = itertools.count(1)


def unique(prefix: str = "x") -> str:
    return f"{prefix}{next(_counter)}"


def make_key(session, role: Role | str = Role.ADMIN, *, merchant_id: str | None = None, name: str | None = None) -> str:
    """A key of that role; returns its secret."""
    from loyalty.keys.services import create_key

    role = Role(role)
    _key, secret = create_key(
        session, role=role, name=name or unique(f"{role.value}-key-"), merchant_id=merchant_id, actor=cli_actor()
    )
    session.commit()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
