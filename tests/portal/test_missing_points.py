"""The portal's "Report missing points" form: a case for staff, CSRF-protected, in the member's language."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from loyalty.actors import Actor, Role
from loyalty.cases import services as cases
from loyalty.cases.models import ServiceCase
from loyalty.cases.resolution import resolve_case
from loyalty.db import utcnow
from loyalty.members.models import Member
from tests.portal.helpers import Visitor, csrf_token, sign_up

ADMIN = Actor(kind="staff", name="ops@example.com", role=Role.ADMIN)


def signed_up(client, db_session, email: str, **kwargs) -> tuple[Visitor, Member]:
    visitor = Visitor(client)
    sign_up(visitor, email, **kwargs)
    return visitor, db_session.scalar(select(Member).where(Member.email == email))


def report(visitor: Visitor, **fields):
    visitor.get("/portal/claims")
    body = {"missing-csrf_token": csrf_token(visitor.page)} | {f"missing-{k}": v for k, v in fields.items()}
    return visitor.post("/portal/claims/missing", body, csrf=False)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_a_member_reports_missing_points_and_sees_the_report_and_its_answer(client, db_session):
    visitor, member = signed_up(client, db_session, "missing@example.com")
    today = utcnow().date().isoformat()

    sent = report(
        visitor,
        receipt_ref="R-2044",
        purchased_on=today,
        shop="Cafe Uno, Rossio",
        points_claimed="35",
        description="The card reader was down.",
    )

    assert sent.status_code == 302, sent.get_data(as_text=True)
    page = text(visitor.get("/portal/claims"))
    assert "Thank you. We will look into it" in page and "R-2044" in page and "Received" in page
    case = db_session.scalars(select(ServiceCase).where(ServiceCase.member_id == member.id)).one()
    assert (case.source, case.receipt_ref, case.points_claimed, case.priority) == ("member", "R-2044", 35, "normal")
    assert case.description == "Shop: Cafe Uno, Rossio\nThe card reader was down."
    assert case.occurred_on.date().isoformat() == today

    resolve_case(db_session, case_id=case.id, points=35, reason="Till journal", actor=ADMIN)
    db_session.commit()
    assert "Resolved: 35 points added" in text(visitor.get("/portal/claims"))


def test_a_report_without_the_csrf_token_is_refused_and_records_nothing(client, db_session):
    visitor, _member = signed_up(client, db_session, "no-csrf@example.com")
    visitor.get("/portal/claims")
    response = visitor.post(
        "/portal/claims/missing", {"missing-receipt_ref": "R-1", "missing-purchased_on": "2026-12-01"}, csrf=False
    )
    assert response.status_code in (400, 422)
    assert db_session.scalar(select(func.count()).select_from(ServiceCase)) == 0


def test_bad_input_is_explained_in_the_members_language_and_records_nothing(client, db_session):
    visitor, _member = signed_up(client, db_session, "bad-report@example.com", language="zh_Hant")

    response = report(visitor, receipt_ref="", purchased_on="yesterday", points_claimed="many")

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "請輸入收據上的日期。" in page and "請輸入整數點數。" in page and "回報缺少的點數" in page
    assert db_session.scalar(select(func.count()).select_from(ServiceCase)) == 0


def test_a_member_waits_for_answers_before_a_fourth_report(client, db_session):
    visitor, _member = signed_up(client, db_session, "many@example.com", language="zh_Hans")
    day = utcnow().date().isoformat()
    for i in range(cases.MAX_OPEN_MEMBER_CASES):
        assert report(visitor, receipt_ref=f"R-{i}", purchased_on=day).status_code == 302
    refused = report(visitor, receipt_ref="R-9", purchased_on=day)
    assert refused.status_code == 422
    assert "我们正在处理您之前的报告" in refused.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(ServiceCase)) == cases.MAX_OPEN_MEMBER_CASES


def test_a_report_needs_a_signed_in_member(client, db_session):
    visitor = Visitor(client)
    visitor.get("/portal/login")
    token = csrf_token(visitor.page)
    body = {"csrf_token": token, "missing-csrf_token": token, "missing-receipt_ref": "R-1"}
    response = visitor.post("/portal/claims/missing", body | {"missing-purchased_on": "2026-12-01"}, csrf=False)
    assert response.status_code == 302 and response.location.startswith("/portal/login")
    assert db_session.scalar(select(func.count()).select_from(ServiceCase)) == 0
