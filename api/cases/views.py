from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.cases.schemas import (
    CaseCreateSchema,
    CaseDetailSchema,
    CaseListArgs,
    CaseNoteCreateSchema,
    CasePage,
    CaseRejectSchema,
    CaseResolveSchema,
    case_body,
)
from api.common import page_body
from loyalty.actors import Role
from loyalty.cases import services as cases
from loyalty.cases.queries import list_cases, list_notes
from loyalty.cases.resolution import reject_case, resolve_case
from web.extensions import db

blp = Blueprint(
    "cases",
    __name__,
    url_prefix="",
    description=(
        "Service cases: a member's missing points, reported by the member (portal), a cashier (a terminal or "
        "merchant key, naming its store's purchase or receipt) or staff. A case is classified `urgent` or `normal` "
        "when opened, moves `open` -> `in_progress` (the first staff note) -> `resolved` (points credited by an "
        "audited adjustment, once, whatever the retries) or `rejected` (with a reason); the member is told either "
        "way.\n\n**Scope.** Admin keys see and do everything; marketer keys read. A merchant key sees the cases its "
        "staff and tills opened, a terminal key those opened at its store; any other case is 404."
    ),
)

READERS = (Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)


def _detail(case) -> dict:
    actor = current_actor()
    internal = actor.role in (Role.ADMIN, Role.MARKETER)
    return case_body(case, list_notes(db.session, case) if internal else [])


@blp.route("/members/<member_id>/cases")
class MemberCasesView(MethodView):
    @requires(Role.ADMIN, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(CaseCreateSchema)
    @blp.response(201, CaseDetailSchema)
    def post(self, data, member_id):
        """Report points missing for a member: open a case, classified urgent or normal (audited as `case.open`).

        A terminal or merchant key names a purchase (`purchase_id`, 404 when not its own store's or merchant's)
        or its receipt (`receipt_ref`); one of them is required from a till. 409 `invalid_state` for a closed
        account.
        """
        case = cases.open_case(db.session, member_id=member_id, actor=current_actor(), **data)
        db.session.commit()
        return _detail(case)


@blp.route("/cases")
class CasesView(MethodView):
    @requires(*READERS)
    @blp.arguments(CaseListArgs, location="query")
    @blp.response(200, CasePage)
    def get(self, args):
        """The case queue: urgent first, then oldest first; filter by `status`, `priority` or `member_id`."""
        page = list_cases(db.session, actor=current_actor(), **args)
        return page_body(page) | {"items": [case_body(case) for case in page.items]}


@blp.route("/cases/<case_id>")
class CaseView(MethodView):
    @requires(*READERS)
    @blp.response(200, CaseDetailSchema)
    def get(self, case_id):
        """A case with its notes, oldest first."""
        return _detail(cases.get_case(db.session, case_id, actor=current_actor()))


@blp.route("/cases/<case_id>/notes")
class CaseNotesView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(CaseNoteCreateSchema)
    @blp.response(201, CaseDetailSchema)
    def post(self, data, case_id):
        """Add a note; the first note on an open case takes it `in_progress` (audited as `case.note`)."""
        note = cases.add_note(db.session, case_id=case_id, body=data["body"], actor=current_actor())
        db.session.commit()
        return _detail(cases.get_case(db.session, note.case_id, actor=current_actor()))


@blp.route("/cases/<case_id>/resolve")
class CaseResolveView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(CaseResolveSchema)
    @blp.response(200, CaseDetailSchema)
    def post(self, data, case_id):
        """Resolve the case by crediting `points` with a `reason` (audited as `case.resolve` and `member.adjust`).

        The credit is made once: the same resolution again answers the case as it is with
        `Idempotent-Replayed: true`, and a different one is 409 `invalid_state`, as is resolving a rejected case.
        The member is sent a message.
        """
        outcome = resolve_case(db.session, case_id=case_id, actor=current_actor(), **data)
        db.session.commit()
        return _detail(outcome.case), 200, ({"Idempotent-Replayed": "true"} if outcome.replayed else {})


@blp.route("/cases/<case_id>/reject")
class CaseRejectView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(CaseRejectSchema)
    @blp.response(200, CaseDetailSchema)
    def post(self, data, case_id):
        """Reject the case with a `reason` the member is told (audited as `case.reject`); nothing is credited.

        409 `invalid_state` for a resolved case, or one rejected with another reason.
        """
        outcome = reject_case(db.session, case_id=case_id, reason=data["reason"], actor=current_actor())
        db.session.commit()
        return _detail(outcome.case), 200, ({"Idempotent-Replayed": "true"} if outcome.replayed else {})
