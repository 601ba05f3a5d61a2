"""Signing in and out, and resetting a forgotten password, with the shared protections.

Sign-in forms are throttled per address and per account (``web.security``),
every form carries a CSRF token, and a failed sign-in says the same thing
whether the account exists or not.
"""

from __future__ import annotations

from flask import g, redirect, request, url_for

from console.common import bp, render, staff_required
from loyalty.errors import InvalidCredentials, TokenInvalid, ValidationFailed
from loyalty.logins.services import account_key
from loyalty.staff import services as staff
from web.extensions import db
from web.security import end_login_session, safe_next, start_login_session, throttle_sign_in

KIND = "staff"


def _account() -> str | None:
    email = request.form.get("email")
    return account_key(f"staff:{email}") if email else None


@bp.route("/login", methods=["GET", "POST"])
@throttle_sign_in(_account, failed=lambda response: response.status_code == 401)
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render("login.html", next=next_url, email="")
    email = (request.form.get("email") or "").strip()
    try:
        user = staff.authenticate(db.session, email=email, password=request.form.get("password") or "")
    except InvalidCredentials:
        db.session.commit()  # the failure is counted on the account
        return render("login.html", 401, next=next_url, email=email, error="The email or the password is wrong.")
    db.session.commit()
    start_login_session(KIND, user.id, user.session_version)
    return redirect(next_url or url_for("console.home"))


@bp.post("/logout")
def logout():
    end_login_session()
    return redirect(url_for("console.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@throttle_sign_in(_account, failed=lambda response: request.method == "POST")
def forgot_password():
    if request.method == "GET":
        return render("forgot.html")
    staff.request_password_reset(
        db.session,
        email=request.form.get("email") or "",
        link_base=url_for("console.reset_password", secret="", _external=True),
    )
    db.session.commit()
    # The same answer for every address: the form does not tell who has an account.
    return render("forgot.html", sent=True)


@bp.route("/password/reset/<secret>", methods=["GET", "POST"])
@throttle_sign_in(
    # Failures are counted per link (and per address), never across everyone's links.
    lambda: account_key(f"staff-reset:{(request.view_args or {}).get('secret', '')}"),
    failed=lambda response: response.status_code in (400, 422),
)
def reset_password(secret: str):
    try:
        user = staff.check_reset_token(db.session, secret=secret)
    except TokenInvalid:
        return render("reset.html", 400, invalid=True)
    if request.method == "GET":
        return render("reset.html", email=user.email)
    password = request.form.get("password") or ""
    if password != (request.form.get("confirm") or ""):
        return render("reset.html", 422, email=user.email, error="The two passwords differ.")
    try:
        staff.reset_password(db.session, secret=secret, password=password)
    except ValidationFailed as error:
        db.session.rollback()
        return render("reset.html", 422, email=user.email, error=error.message)
    db.session.commit()
    end_login_session()
    return render("login.html", next=None, email=user.email, notice="Your password is set. Sign in with it.")


@bp.get("/")
@staff_required()
def home():
    if g.staff.role == "merchant":
        return redirect(url_for("console.merchant", merchant_id=g.staff.merchant_id))
    if g.staff.role == "marketer":
        return redirect(url_for("console.rules_list"))
    return redirect(url_for("console.applications"))


@bp.route("/account", methods=["GET", "POST"])
@staff_required()
def account():
    if request.method == "GET":
        return render("account.html")
    if request.form.get("new") != request.form.get("confirm"):
        return render("account.html", 422, error="The two new passwords differ.")
    try:
        user = staff.change_password(
            db.session, user=g.staff, current=request.form.get("current") or "", new=request.form.get("new") or ""
        )
    except (InvalidCredentials, ValidationFailed) as error:
        db.session.rollback()
        return render("account.html", 422, error=error.message)
    db.session.commit()
    # This browser stays signed in, on the new version; the others are out.
    start_login_session(KIND, user.id, user.session_version)
    return render("account.html", notice="Your password is changed; other browsers are signed out.")
