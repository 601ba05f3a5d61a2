"""Claims of purchases made without the card; the profile, consents, password, data download and erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from loyalty.accounts import selfservice
from loyalty.accounts import services as accounts
from loyalty.accounts.services import member_actor
from loyalty.accounts.statement import export_member_data
from loyalty.cases import services as cases
from loyalty.cases.queries import member_cases
from loyalty.db import utcnow
from loyalty.errors import InvalidCredentials, LoyaltyError
from loyalty.logins.services import account_key
from member_portal import bp
from member_portal.auth import current_member, member_required, request_id
from member_portal.forms import ClaimForm, ConsentForm, EraseForm, MissingPointsForm, PasswordForm, ProfileForm
from member_portal.problems import describe, password_problem
from web import security
from web.extensions import db


def _member_key() -> str | None:
    who = security.signed_in("member")
    return account_key(who[0]) if who else None


# A claim code is not guessable, but each wrong one is still counted against the member.
throttled_claims = security.throttle_sign_in(_member_key, failed=lambda response: response.status_code != 302)


@bp.route("/claims", methods=["GET", "POST"])
@member_required
@throttled_claims
def claims():
    member = current_member()
    form = ClaimForm()
    if form.validate_on_submit():
        try:
            result = selfservice.claim(
                db.session, member_id=member.id, claim_code=form.claim_code.data, request_id=request_id()
            )
        except LoyaltyError as error:
            db.session.rollback()
            form.claim_code.errors.append(describe(error))
        else:
            db.session.commit()
            flash(_("Claimed: %(points)s points from that purchase are yours.", points=result["points"]), "success")
            return redirect(url_for("portal.claims"))
    return _render_claims(form, MissingPointsForm(prefix="missing"), 422 if form.errors else 200)


def _render_claims(form, report, status: int):
    reports = member_cases(db.session, member_id=current_member().id)
    return render_template("portal/claims.html", form=form, report=report, reports=reports), status


@bp.post("/claims/missing")
@member_required
def report_missing_points():
    """A purchase whose points never came: a service case, looked at by the operator's staff."""
    member = current_member()
    report = MissingPointsForm(prefix="missing")
    if report.validate_on_submit():
        details = report.description.data.strip() if report.description.data else ""
        if report.shop.data and report.shop.data.strip():
            details = f"Shop: {report.shop.data.strip()}" + (f"\n{details}" if details else "")
        now = utcnow()
        # The date the member typed, at midnight UTC (never later than now for a member ahead of UTC).
        bought = min(datetime.combine(report.purchased_on.data, time(0), tzinfo=UTC), now)
        try:
            cases.open_case(
                db.session,
                member_id=member.id,
                receipt_ref=report.receipt_ref.data,
                occurred_on=bought,
                points_claimed=report.points_claimed.data,
                description=details or None,
                actor=member_actor(member.id, request_id()),
                now=now,
            )
        except LoyaltyError as error:
            db.session.rollback()
            if "open_cases" in (error.errors or {}):
                report.form_errors.append(_("You already have reports we are looking at. Please wait for our answer."))
            else:
                report.form_errors.append(describe(error))
        else:
            db.session.commit()
            flash(_("Thank you. We will look into it and tell you what we find."), "success")
            return redirect(url_for("portal.claims"))
    return _render_claims(ClaimForm(), report, 422)


def _profile_forms(member):
    consents = selfservice.marketing_consents(db.session, member)
    return {
        "profile": ProfileForm(
            prefix="profile", name=member.name, email=member.email, phone=member.phone, language=member.locale
        ),
        "consent": ConsentForm(prefix="consent", **consents),
        "password": PasswordForm(prefix="password"),
    }


def _render_profile(forms, status: int = 200):
    return render_template("portal/profile.html", member=current_member(), **forms), status


@bp.get("/profile")
@member_required
def profile():
    return _render_profile(_profile_forms(current_member()))


@bp.post("/profile")
@member_required
def profile_save():
    member = current_member()
    forms = _profile_forms(member)
    form = forms["profile"] = ProfileForm(prefix="profile")
    if form.validate_on_submit():
        try:
            selfservice.update_profile(
                db.session,
                member_id=member.id,
                changes={
                    "name": form.name.data,
                    "email": form.email.data,
                    "phone": form.phone.data or None,
                    "locale": form.language.data,
                },
                request_id=request_id(),
            )
        except LoyaltyError as error:
            db.session.rollback()
            db.session.refresh(member)
            fields = error.errors or {}
            target = form.phone if "phone" in fields else form.email if "email" in fields else None
            (target.errors if target is not None else form.form_errors).append(describe(error))
        else:
            db.session.commit()
            flash(_("Your details are saved."), "success")
            return redirect(url_for("portal.profile"))
    return _render_profile(forms, 422)


@bp.post("/profile/consents")
@member_required
def consents_save():
    member = current_member()
    forms = _profile_forms(member)
    form = forms["consent"] = ConsentForm(prefix="consent")
    if form.validate_on_submit():
        selfservice.set_marketing_consents(
            db.session,
            member_id=member.id,
            granted={"email": form.email.data, "sms": form.sms.data},
            request_id=request_id(),
        )
        db.session.commit()
        flash(_("Your choices are saved."), "success")
        return redirect(url_for("portal.profile"))
    return _render_profile(forms, 422)


@bp.post("/profile/password")
@member_required
def password_save():
    member = current_member()
    forms = _profile_forms(member)
    form = forms["password"] = PasswordForm(prefix="password")
    if form.validate_on_submit():
        try:
            login = accounts.change_password(
                db.session,
                member_id=member.id,
                current=form.current_password.data,
                new=form.password.data,
                request_id=request_id(),
            )
        except InvalidCredentials:
            db.session.rollback()
            form.current_password.errors.append(_("The current password is wrong."))
        except LoyaltyError as error:
            db.session.rollback()
            form.password.errors.append(password_problem(error) or describe(error))
        else:
            db.session.commit()
            # Every other browser is signed out; this one stays in.
            security.start_login_session("member", member.id, login.session_version)
            flash(_("Your new password is set."), "success")
            return redirect(url_for("portal.profile"))
    return _render_profile(forms, 422)


@bp.get("/profile/export")
@member_required
def export():
    member = current_member()
    data = export_member_data(
        db.session, member.id, extra={"marketing_consents": selfservice.marketing_consents(db.session, member)}
    )
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-loyalty-data.json"'},
    )


@bp.route("/profile/erase", methods=["GET", "POST"])
@member_required
def erase():
    member = current_member()
    form = EraseForm()
    if form.validate_on_submit():
        try:
            accounts.close_account(
                db.session, member_id=member.id, password=form.password.data, request_id=request_id()
            )
        except InvalidCredentials:
            db.session.rollback()
            form.password.errors.append(_("The password is wrong."))
        else:
            db.session.commit()
            security.end_login_session()
            return redirect(url_for("portal.erased"))
    return render_template("portal/erase.html", form=form), 422 if form.errors else 200


@bp.get("/erased")
def erased():
    return render_template("portal/erased.html")
