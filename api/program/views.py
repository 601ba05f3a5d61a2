from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.program.schemas import ProgramPatchSchema, ProgramSchema, program_body, program_changes
from loyalty.actors import Role
from loyalty.program.services import get_program, update_program
from web.extensions import db

blp = Blueprint("program", __name__, url_prefix="/program", description="The program's settings.")


@blp.route("")
class ProgramView(MethodView):
    @requires()
    @blp.response(200, ProgramSchema)
    def get(self):
        """Read the program's settings."""
        body = program_body(get_program(db.session))
        db.session.commit()  # the first read creates the defaults
        return body

    @requires(Role.ADMIN)
    @blp.arguments(ProgramPatchSchema)
    @blp.response(200, ProgramSchema)
    def patch(self, data):
        """Change some of the program's settings (audited)."""
        program = update_program(db.session, changes=program_changes(data), actor=current_actor())
        db.session.commit()
        return program_body(program)
