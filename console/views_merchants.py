"""A merchant's pages: its stores and terminals, purchases and members reached.

Admins see every merchant; a merchant's staff only their own, and another
merchant's pages are not found (the services decide, given the staff member
as the actor).
"""

from __future__ import annotations

from flask import current_app, redirect, request, url_for

from console.common import actor, bp, field_errors, page_args, render, staff_required, text_arg
from loyalty.errors import InvalidState, ValidationFailed
from loyalty.merchants import services as merchants
from loyalty.merchants import terminals
from loyalty.merchants.checks import get_merchant, get_store
from loyalty.purchases import queries as purchase_queries
from web.extensions import db

STAFF = ("admin", "merchant")


@bp.get("/merchants/<merchant_id>")
@staff_required(*STAFF)
def merchant(merchant_id: str):
    shop = get_merchant(db.session, merchant_id, actor=actor())
    limit, cursor = page_args()
    stores = merchants.list_stores(db.session, merchant_id=shop.id, limit=limit, cursor=cursor, actor=actor())
    return render("merchant.html", merchant=shop, stores=stores, errors={})


@bp.post("/merchants/<merchant_id>/stores")
@staff_required(*STAFF)
def add_store(merchant_id: str):
    shop = get_merchant(db.session, merchant_id, actor=actor())
    try:
        store = merchants.add_store(
            db.session,
            merchant_id=shop.id,
            name=request.form.get("name") or "",
            timezone=(request.form.get("timezone") or "").strip(),
            actor=actor(),
        )
    except (ValidationFailed, InvalidState) as error:
        db.session.rollback()
        stores = merchants.list_stores(db.session, merchant_id=shop.id, limit=25, cursor=None, actor=actor())
        return render(
            "merchant.html", 422, merchant=shop, stores=stores, errors=field_errors(error), error=error.message
        )
    db.session.commit()
    return redirect(url_for("console.store", store_id=store.id))


def _store_page(store, *, status: int = 200, **extra):
    limit, cursor = page_args()
    page = terminals.list_terminals(
        db.session, store_id=store.id, limit=limit, cursor=cursor, status=text_arg("status"), actor=actor()
    )
    shop = get_merchant(db.session, store.merchant_id, actor=actor())
    return render("store.html", status, store=store, merchant=shop, terminals=page, **extra)


@bp.get("/stores/<store_id>")
@staff_required(*STAFF)
def store(store_id: str):
    return _store_page(get_store(db.session, store_id, actor=actor()))


@bp.post("/stores/<store_id>/terminals")
@staff_required(*STAFF)
def add_terminal(store_id: str):
    place = get_store(db.session, store_id, actor=actor())
    try:
        terminal, api_key, signing_secret = terminals.add_terminal(
            db.session, store_id=place.id, name=request.form.get("name") or "", actor=actor()
        )
    except (ValidationFailed, InvalidState) as error:
        db.session.rollback()
        return _store_page(place, status=422, error=error.message)
    db.session.commit()
    # The secrets are shown on this answer only; they are never stored in the clear.
    return _store_page(
        place,
        secrets={"terminal": terminal, "api_key": api_key, "signing_secret": signing_secret},
    )


@bp.post("/terminals/<terminal_id>/rotate")
@staff_required(*STAFF)
def rotate_terminal(terminal_id: str):
    till = terminals.get_terminal(db.session, terminal_id, actor=actor())
    default_grace = current_app.config.get("SIGNING_SECRET_GRACE_HOURS", 24)
    try:
        grace = int(request.form.get("grace_hours", default_grace))
        secret, valid_until = terminals.rotate_terminal_secret(
            db.session, terminal_id=till.id, grace_hours=grace, actor=actor()
        )
    except ValueError:
        return _store_page(get_store(db.session, till.store_id, actor=actor()), status=422, error="Hours, please.")
    except (ValidationFailed, InvalidState) as error:
        db.session.rollback()
        return _store_page(get_store(db.session, till.store_id, actor=actor()), status=422, error=error.message)
    db.session.commit()
    return _store_page(
        get_store(db.session, till.store_id, actor=actor()),
        rotated={"terminal": till, "signing_secret": secret, "old_valid_until": valid_until},
    )


@bp.post("/terminals/<terminal_id>/revoke")
@staff_required(*STAFF)
def revoke_terminal(terminal_id: str):
    till = terminals.get_terminal(db.session, terminal_id, actor=actor())
    try:
        terminals.revoke_terminal(db.session, terminal_id=till.id, actor=actor())
    except InvalidState as error:
        db.session.rollback()
        return _store_page(get_store(db.session, till.store_id, actor=actor()), status=409, error=error.message)
    db.session.commit()
    return redirect(url_for("console.store", store_id=till.store_id))


@bp.get("/merchants/<merchant_id>/purchases")
@staff_required(*STAFF)
def purchases(merchant_id: str):
    shop = get_merchant(db.session, merchant_id, actor=actor())
    limit, cursor = page_args()
    search = text_arg("q")
    page = purchase_queries.merchant_purchases(
        db.session, merchant_id=shop.id, limit=limit, cursor=cursor, search=search
    )
    return render("purchases.html", merchant=shop, purchases=page, q=search or "")


@bp.get("/merchants/<merchant_id>/members")
@staff_required(*STAFF)
def members_reached(merchant_id: str):
    shop = get_merchant(db.session, merchant_id, actor=actor())
    limit, cursor = page_args()
    count, page = purchase_queries.members_reached(db.session, merchant_id=shop.id, limit=limit, cursor=cursor)
    return render("members_reached.html", merchant=shop, count=count, members=page)
