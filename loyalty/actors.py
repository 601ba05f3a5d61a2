"""Who is acting: a plain value handed to every service that changes things."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    MERCHANT = "merchant"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class Actor:
    """The caller of a service: an API key, a command-line user, or the system."""

    kind: str  # "key", "cli", "system", "public"
    name: str
    role: Role | None = None
    key_id: str | None = None
    merchant_id: str | None = None
    store_id: str | None = None
    terminal_id: str | None = None
    request_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN or self.kind in ("cli", "system")

    def sees_merchant(self, merchant_id: str | None) -> bool:
        """Whether this actor may see objects of that merchant."""
        if self.role in (Role.MERCHANT, Role.TERMINAL):
            return merchant_id is not None and merchant_id == self.merchant_id
        return True


SYSTEM = Actor(kind="system", name="system")
PUBLIC = Actor(kind="public", name="public")


def cli_actor(name: str = "command line") -> Actor:
    return Actor(kind="cli", name=name)
