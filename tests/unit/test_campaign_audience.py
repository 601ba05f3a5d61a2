"""The audience filter: what it accepts, and the SQL it builds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.campaigns.audience import audience_query, check_audience
from loyalty.db import stable_bucket
from loyalty.errors import ValidationFailed

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _sql(audience, dialect=None):
    query = audience_query(check_audience(audience), now=NOW)
    return str(query.compile(dialect=dialect or sqlite.dialect()))


def test_an_empty_audience_is_every_active_member_not_erased():
    sql = _sql({})
    assert "members.status" in sql and "members.erased_at IS NULL" in sql
    assert "member_analytics" not in sql


def test_segment_and_band_filters_left_join_the_analytics():
    sql = _sql({"rfm_segments": ["champions"], "value_bands": [5, 4]})
    assert "LEFT OUTER JOIN member_analytics" in sql
    assert "member_analytics.rfm_segment IN" in sql and "member_analytics.value_band IN" in sql


def test_stage_tier_and_merchant_filters_read_members_and_purchases():
    sql = _sql({"lifecycle_stages": ["at_risk"], "tiers": ["gold"], "merchant_ids": ["mer_1"]})
    assert "members.lifecycle_stage IN" in sql and "members.tier_code IN" in sql
    assert "EXISTS (SELECT" in sql and "purchases.merchant_id IN" in sql


def test_consent_falls_back_to_the_enrolment_opt_in_per_channel():
    sql = _sql({"consent": ["sms"]}, postgresql.dialect())
    assert "coalesce((SELECT marketing_consents.granted" in sql
    assert "members.marketing_opt_in" in sql


def test_the_checked_filter_is_normalised():
    assert check_audience({"value_bands": [5, 4, 5], "tiers": [], "days_since_last_purchase": {"min": 30}}) == {
        "value_bands": [4, 5],
        "days_since_last_purchase": {"min": 30},
    }


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        ({"stages": ["at_risk"]}, "audience.stages"),
        ({"lifecycle_stages": ["sleepy"]}, "audience.lifecycle_stages"),
        ({"value_bands": [6]}, "audience.value_bands"),
        ({"value_bands": [True]}, "audience.value_bands"),
        ({"consent": ["fax"]}, "audience.consent"),
        ({"days_since_last_purchase": {"min": 40, "max": 10}}, "audience.days_since_last_purchase"),
        ({"days_since_last_purchase": {"min": -1}}, "audience.days_since_last_purchase.min"),
        ({"tiers": "gold"}, "audience.tiers"),
    ],
)
def test_a_bad_filter_names_its_field(audience, field):
    with pytest.raises(ValidationFailed) as caught:
        check_audience(audience)
    assert field in caught.value.errors


def test_the_stable_bucket_is_the_first_32_bits_of_the_md5_as_postgresql_computes_it():
    # md5("cmp_1:mbr_2") starts with the 8 hex digits below; PostgreSQL's
    # ('x' || substr(md5(k), 1, 8))::bit(32)::bigint % 10000 gives the same.
    import hashlib

    digits = hashlib.md5(b"cmp_1:mbr_2", usedforsecurity=False).hexdigest()[:8]
    assert stable_bucket("cmp_1:mbr_2") == int(digits, 16) % 10_000
    assert 0 <= stable_bucket("anything") < 10_000
