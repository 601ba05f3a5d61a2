"""The operator's pages: merchant applications, merchants, staff accounts and the audit trail."""

from __future__ import annotations

from flask import redirect, request, url_for

from console.common import actor, bp, field_errors, page_args, render, staff_required, text_arg
from loyalty.audit.services import list_events
from loyalty.errors import Conflict, InvalidState, ValidationFailed
from loyalty.merchants import services as merchants
from loyalty.merchants.models import Merchant
from loyalty.pagination import paginate
from loyalty.staff import services as staff
from web.extensions import db


@bp.get("/applications")
@staff_required("admin")
def applications():
    limit, cursor = page_args()
    status = text_arg("status") or "pending"
    page = merchants.list_applications(
        db.session, limit=limit, cursor=cursor, status=None if status == "all" else status, actor=actor()
    )
    return render("applications.html", applications=page, status=status)


@bp.post("/applications/<application_id>/approve")
@staff_required("admin")
def approve_application(application_id: str):
    try:
        merchant, api_key = merchants.approve_application(db.session, application_id=application_id, actor=actor())
    except InvalidState as error:
        db.session.rollback()
        return render("error.html", 409, title="Already decided", message=error.message)
    db.session.commit()
    # The merchant key is shown on this answer only.
    return render("approved.html", merchant=merchant, api_key=api_key)


@bp.post("/applications/<application_id>/reject")
@staff_required("admin")
def reject_application(application_id: str):
    try:
        merchants.reject_application(
            db.session, application_id=application_id, note=request.form.get("note") or None, actor=actor()
        )
    except (InvalidState, ValidationFailed) as error:
        db.session.rollback()
        return render("error.html", 409, title="Not rejected", message=error.message)
    db.session.commit()
    return redirect(url_for("console.applications"))


@bp.get("/merchants")
@staff_required("admin")
def merchant_list():
    limit, cursor = page_args()
    search = text_arg("q")
    query = db.select(Merchant)
    if search:
        query = query.where(
            db.or_(db.func.lower(Merchant.name).contains(search.lower(), autoescape=True), Merchant.id == search)
        )
    page = paginate(db.session, query, Merchant.id, limit=limit, cursor=cursor)
    return render("merchants.html", merchants=page, q=search or "")


@bp.route("/staff", methods=["GET", "POST"])
@staff_required("admin")
def staff_users():
    limit, cursor = page_args()
    search = text_arg("q")
    form: dict = {}
    errors: dict = {}
    status = 200
    created = None
    if request.method == "POST":
        form = {k: (request.form.get(k) or "").strip() for k in ("email", "name", "role", "merchant_id")}
        try:
            created = staff.create_staff_user(
                db.session,
                email=form["email"],
                name=form["name"],
                role=form["role"],
                merchant_id=form["merchant_id"] or None,
                password=request.form.get("password") or None,
                actor=actor(),
            )
            if not request.form.get("password"):
                staff.request_password_reset(
                    db.session,
                    email=created.email,
                    link_base=url_for("console.reset_password", secret="", _external=True),
                )
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            errors, status = field_errors(error) or {"_form": [error.message]}, 422
        else:
            db.session.commit()
            form = {}
    page = staff.list_staff_users(db.session, limit=limit, cursor=cursor, search=search, actor=actor())
    return render("staff.html", status, users=page, q=search or "", form=form, errors=errors, created=created)


@bp.post("/staff/<user_id>/status")
@staff_required("admin")
def staff_status(user_id: str):
    staff.set_staff_status(db.session, user_id=user_id, status=request.form.get("status") or "", actor=actor())
    db.session.commit()
    return redirect(url_for("console.staff_users"))


@bp.get("/audit")
@staff_required("admin")
def audit():
    limit, cursor = page_args()
    filters = {
        "actor_name": text_arg("actor"),
        "action": text_arg("action"),
        "object_type": text_arg("object_type"),
        "object_id": text_arg("object_id"),
    }
    page = list_events(db.session, limit=limit, cursor=cursor, **filters)
    return render("audit.html", events=page, filters={k: v or "" for k, v in filters.items()})
