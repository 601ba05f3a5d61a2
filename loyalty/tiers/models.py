from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import Base, json_type, utcnow


class Tier(Base):
    """One step of the program's ladder. A member holds a tier by its code (``members.tier_code``).

    ``qualifying_points`` rise strictly with ``rank``: a member holds the highest
    tier whose qualifying points they reach, rising at once and falling only at
    review. The list is replaced as a whole (``PUT /tiers``).
    """

    __tablename__ = "tiers"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    qualifying_points: Mapped[int] = mapped_column(BigInteger)
    benefits: Mapped[dict] = mapped_column(json_type(), default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "rank": self.rank,
            "qualifying_points": self.qualifying_points,
            "benefits": self.benefits,
        }
