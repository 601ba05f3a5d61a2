from flask_smorest import Blueprint

blp = Blueprint("members", __name__, url_prefix="/members", description="Members of the program.")
