"""Getting in and out: sign up, claim a card, log in, log out, a forgotten password, the language."""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from loyalty.accounts import services as accounts
from loyalty.accounts.selfservice import set_marketing_consents, update_profile
from loyalty.contacts import LOCALES
from loyalty.errors import InvalidCredentials, LoyaltyError, TokenInvalid, ValidationFailed
from loyalty.logins.services import account_key
from member_portal import bp
from member_portal.auth import request_id, sign_in
from member_portal.forms import CardConfirmForm, CardForm, CodeForm, ForgotForm, LoginForm, ResetForm, SignUpForm
from member_portal.i18n import LANGUAGE_COOKIE, select_locale
from member_portal.problems import describe
from web import security
from web.extensions import db

_PENDING_LINK = "pending_link"
_PENDING_CLAIM = "pending_claim"


def _failed(response) -> bool:
    # A sign-in form that worked redirects; one that failed shows the form again.
    return response.status_code != 302


def _typed_account() -> str | None:
    value = request.form.get("email") or request.form.get("card_number") or ""
    return account_key(value) if value.strip() else None


def _pending_account(key: str):
    def account() -> str | None:
        pending = session.get(key)
        return account_key(pending["member_id"]) if isinstance(pending, dict) else None

    return account


throttled = security.throttle_sign_in(_typed_account, failed=_failed)
throttled_link_code = security.throttle_sign_in(_pending_account(_PENDING_LINK), failed=_failed)
throttled_claim_code = security.throttle_sign_in(_pending_account(_PENDING_CLAIM), failed=_failed)


def _signed_in(member, *, next_url: str | None = None, message: str | None = None):
    sign_in(member.id, accounts.session_version(db.session, member.id))
    if message:  # after signing in: a new session starts empty
        flash(message, "success")
    return redirect(security.safe_next(next_url) or url_for("portal.home"))


# ---- sign up ---------------------------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@throttled
def signup():
    form = SignUpForm(language=select_locale())
    if form.validate_on_submit():
        try:
            result = accounts.sign_up(
                db.session,
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                locale=form.language.data,
                request_id=request_id(),
            )
            if result.signed_in and form.marketing_email.data:
                set_marketing_consents(
                    db.session, member_id=result.member.id, granted={"email": True}, request_id=request_id()
                )
        except LoyaltyError as error:
            db.session.rollback()
            form.form_errors.append(describe(error))
        else:
            db.session.commit()
            if result.signed_in:
                return _signed_in(
                    result.member, message=_("Welcome! Your card is ready: show it at the till to earn points.")
                )
            session[_PENDING_LINK] = {
                "member_id": result.member.id,
                "sent_to": result.sent_to,
                "browser_key": result.browser_key,
            }
            return redirect(url_for("portal.signup_confirm"))
    return render_template("portal/signup.html", form=form), 200 if not form.errors else 422


@bp.route("/signup/confirm", methods=["GET", "POST"])
@throttled_link_code
def signup_confirm():
    pending = session.get(_PENDING_LINK)
    if not isinstance(pending, dict):
        return redirect(url_for("portal.signup"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            member = accounts.confirm_sign_up(
                db.session,
                member_id=pending["member_id"],
                code=form.code.data,
                browser_key=pending.get("browser_key", ""),
                request_id=request_id(),
            )
        except LoyaltyError as error:
            db.session.commit()  # a wrong code counts against it
            form.form_errors.append(describe(error))
        else:
            db.session.commit()
            return _signed_in(member, message=_("Your account is linked to your card. Welcome!"))
    status = 422 if form.errors else 200
    return render_template("portal/code.html", form=form, sent_to=pending.get("sent_to"), purpose="link"), status


# ---- claim a card enrolled at a till -----------------------------------------------------------


@bp.route("/claim-card", methods=["GET", "POST"])
@throttled
def claim_card():
    form = CardForm()
    if form.validate_on_submit():
        try:
            member, sent_to = accounts.start_card_claim(db.session, card_number=form.card_number.data)
        except LoyaltyError as error:
            db.session.rollback()
            form.form_errors.append(describe(error))
        else:
            db.session.commit()
            session[_PENDING_CLAIM] = {"member_id": member.id, "sent_to": sent_to, "has_email": bool(member.email)}
            return redirect(url_for("portal.claim_card_confirm"))
    return render_template("portal/claim_card.html", form=form), 422 if form.errors else 200


@bp.route("/claim-card/confirm", methods=["GET", "POST"])
@throttled_claim_code
def claim_card_confirm():
    pending = session.get(_PENDING_CLAIM)
    if not isinstance(pending, dict):
        return redirect(url_for("portal.claim_card"))
    form = CardConfirmForm()
    if form.validate_on_submit():
        try:
            member = accounts.finish_card_claim(
                db.session,
                member_id=pending["member_id"],
                code=form.code.data,
                email=form.email.data,
                password=form.password.data,
                request_id=request_id(),
            )
        except TokenInvalid as error:
            db.session.commit()  # a wrong code counts against it
            form.form_errors.append(describe(error))
        except LoyaltyError as error:
            db.session.rollback()
            form.form_errors.append(describe(error))
        else:
            db.session.commit()
            return _signed_in(member, message=_("Your card is now yours to use here. Welcome!"))
    status = 422 if form.errors else 200
    return render_template("portal/claim_card_confirm.html", form=form, pending=pending), status


# ---- log in and out ----------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@throttled
def login():
    form = LoginForm(next=request.args.get("next"))
    if form.validate_on_submit():
        try:
            member, _login = accounts.log_in(db.session, email=form.email.data, password=form.password.data)
        except InvalidCredentials as error:
            db.session.commit()  # the failure is counted on the account
            form.form_errors.append(describe(error))
        else:
            db.session.commit()
            return _signed_in(member, next_url=form.next.data)
    return render_template("portal/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    security.end_login_session()
    flash(_("You are logged out."), "info")
    return redirect(url_for("portal.login"))


# ---- a forgotten password ----------------------------------------------------------------------


@bp.route("/forgot", methods=["GET", "POST"])
@throttled
def forgot():
    form = ForgotForm()
    if form.validate_on_submit():
        accounts.request_password_reset(
            db.session,
            email=form.email.data,
            link_for=lambda secret: url_for("portal.reset", secret=secret, _external=True),
        )
        db.session.commit()
        # The same answer whether or not the email has an account.
        return redirect(url_for("portal.forgot_sent"))
    return render_template("portal/forgot.html", form=form), 422 if form.errors else 200


@bp.get("/forgot/sent")
def forgot_sent():
    return render_template("portal/forgot_sent.html")


@bp.route("/reset/<secret>", methods=["GET", "POST"])
@throttled
def reset(secret: str):
    try:
        accounts.check_reset_link(db.session, secret=secret)
    except (TokenInvalid, LoyaltyError):
        return render_template("portal/reset_invalid.html"), 410
    form = ResetForm()
    if form.validate_on_submit():
        try:
            member = accounts.reset_password(
                db.session, secret=secret, password=form.password.data, request_id=request_id()
            )
        except ValidationFailed as error:
            db.session.rollback()
            form.password.errors.append(describe(error))
        else:
            db.session.commit()
            return _signed_in(member, message=_("Your new password is set."))
    return render_template("portal/reset.html", form=form), 422 if form.errors else 200


# ---- the language ----------------------------------------------------------------------------


@bp.post("/language")
def language():
    """Switch the language: remembered in a cookie, and on the member's record when signed in."""
    chosen = request.form.get("lang")
    back = security.safe_next(request.form.get("next")) or url_for("portal.home")
    if chosen not in LOCALES:
        return redirect(back)
    who = security.signed_in("member")
    if who:
        member = accounts.signed_in_member(db.session, *who)
        if member is not None and member.locale != chosen:
            update_profile(db.session, member_id=member.id, changes={"locale": chosen}, request_id=request_id())
            db.session.commit()
    response = make_response(redirect(back))
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        max_age=365 * 24 * 3600,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response
