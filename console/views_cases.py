"""The operator's service pages: the case queue, a case, and a member's 360-degree view with the timeline.

Admins work cases (notes, resolve with points, reject); marketers read. The
member page is for both: the timeline spans every merchant, so merchants'
staff do not reach it.
"""

from __future__ import annotations

from flask import redirect, request, url_for

from console.common import actor, bp, field_errors, page_args, render, staff_required, text_arg
from loyalty.cases import services as cases
from loyalty.cases.classify import PRIORITIES
from loyalty.cases.queries import list_cases, list_notes
from loyalty.cases.resolution import reject_case, resolve_case
from loyalty.errors import Conflict, NotFound, ValidationFailed
from loyalty.ledger.services import balance
from loyalty.members import services as members
from loyalty.tiers.services import standing
from loyalty.timeline.queries import KINDS, member_timeline
from web.extensions import db

OPERATOR = ("admin", "marketer")
KIND_LABELS = {
    "purchase": "Purchases",
    "points": "Points",
    "redemption": "Redemptions",
    "tier_change": "Tier changes",
    "stage_change": "Stage changes",
    "contact": "Campaign messages",
    "claim": "Claims",
    "case": "Cases",
    "note": "Notes",
}


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = text_arg(name)
    return value if value in allowed else None


@bp.get("/cases")
@staff_required(*OPERATOR)
def case_queue():
    limit, cursor = page_args()
    # The queue shows the work still to do (open or in progress) unless another status, or all, is asked for.
    shown = text_arg("status") or "to_do"
    filters = {
        "status": _choice("status", cases.STATUSES),
        "priority": _choice("priority", PRIORITIES),
        "member_id": text_arg("member_id"),
    }
    to_do = (cases.OPEN, cases.IN_PROGRESS) if shown == "to_do" else None
    page = list_cases(db.session, actor=actor(), limit=limit, cursor=cursor, statuses=to_do, **filters)
    return render(
        "cases.html",
        cases=page,
        filters={k: v or "" for k, v in filters.items()} | {"status": shown},
        statuses=cases.STATUSES,
        priorities=PRIORITIES,
    )


_DONE = {"note": "Note added.", "resolved": "Resolved: the points are credited.", "rejected": "Rejected."}


def _case_page(case_id: str, code: int = 200, *, form=None, errors=None, **context):
    case = cases.get_case(db.session, case_id, actor=actor())
    member = members.get_member(db.session, case.member_id)
    notice = _DONE.get(request.args.get("done", ""))
    return render(
        "case.html",
        code,
        case=case,
        member=member,
        notes=list_notes(db.session, case),
        form=form or {},
        errors=errors or {},
        notice=notice,
        **context,
    )


@bp.get("/cases/<case_id>")
@staff_required(*OPERATOR)
def case(case_id: str):
    return _case_page(case_id)


def _act(case_id: str, action, *, notice: str):
    form = {k: (request.form.get(k) or "").strip() for k in ("body", "points", "reason")}
    try:
        action(form)
    except (ValidationFailed, Conflict) as error:
        db.session.rollback()
        code = 422 if isinstance(error, ValidationFailed) else 409
        return _case_page(case_id, code, form=form, errors=field_errors(error), error=error.message)
    db.session.commit()
    return redirect(url_for("console.case", case_id=case_id, done=notice))


@bp.post("/cases/<case_id>/notes")
@staff_required("admin")
def case_note(case_id: str):
    return _act(
        case_id,
        lambda form: cases.add_note(db.session, case_id=case_id, body=form["body"], actor=actor()),
        notice="note",
    )


def _points(text: str):
    # A form sends text: a whole number is checked by the service, anything else is kept as is to be refused.
    return int(text) if text.lstrip("-").isdigit() else text


@bp.post("/cases/<case_id>/resolve")
@staff_required("admin")
def case_resolve(case_id: str):
    return _act(
        case_id,
        lambda form: resolve_case(
            db.session, case_id=case_id, points=_points(form["points"]), reason=form["reason"], actor=actor()
        ),
        notice="resolved",
    )


@bp.post("/cases/<case_id>/reject")
@staff_required("admin")
def case_reject(case_id: str):
    return _act(
        case_id,
        lambda form: reject_case(db.session, case_id=case_id, reason=form["reason"], actor=actor()),
        notice="rejected",
    )


@bp.post("/members/<member_id>/cases")
@staff_required("admin")
def member_open_case(member_id: str):
    form = {k: (request.form.get(k) or "").strip() for k in ("receipt_ref", "points_claimed", "description")}
    try:
        opened = cases.open_case(
            db.session,
            member_id=member_id,
            receipt_ref=form["receipt_ref"] or None,
            points_claimed=_points(form["points_claimed"]) if form["points_claimed"] else None,
            description=form["description"] or None,
            actor=actor(),
        )
    except (ValidationFailed, Conflict) as error:
        db.session.rollback()
        return _member_page(member_id, 422 if isinstance(error, ValidationFailed) else 409, error=error.message)
    db.session.commit()
    return redirect(url_for("console.case", case_id=opened.id))


@bp.post("/members/<member_id>/notes")
@staff_required("admin")
def member_note(member_id: str):
    try:
        cases.add_member_note(db.session, member_id=member_id, body=request.form.get("body") or "", actor=actor())
    except ValidationFailed as error:
        db.session.rollback()
        return _member_page(member_id, 422, error=error.message)
    db.session.commit()
    return redirect(url_for("console.member", member_id=member_id))


@bp.get("/members")
@staff_required(*OPERATOR)
def member_search():
    query = text_arg("q")
    if not query:
        return render("member_search.html", q="")
    found = None
    digits = query.replace(" ", "").replace("-", "")
    try:
        if query.startswith("mbr_"):
            found = members.get_member(db.session, query)
        elif digits.isdigit() and len(digits) == 16:
            found = members.lookup_members(db.session, card_number=digits)
        elif "@" in query:
            found = members.lookup_members(db.session, email=query)
        elif query.startswith("+"):
            found = members.lookup_members(db.session, phone=query)
    except (NotFound, ValidationFailed):
        found = None
    if found is None:
        return render("member_search.html", 404, q=query, error="No member has that id, card number, email or phone.")
    return redirect(url_for("console.member", member_id=found.id))


def _member_page(member_id: str, code: int = 200, **context):
    member = members.get_member(db.session, member_id)
    limit, cursor = page_args()
    chosen = [kind for kind in request.args.getlist("kind") if kind in KINDS]
    page = member_timeline(db.session, member_id=member.id, limit=limit, cursor=cursor, kinds=chosen or None)
    return render(
        "member.html",
        code,
        member=member,
        balance=balance(db.session, member),
        tier=standing(db.session, member),
        timeline=page,
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        chosen=chosen,
        **context,
    )


@bp.get("/members/<member_id>")
@staff_required(*OPERATOR)
def member(member_id: str):
    return _member_page(member_id)
