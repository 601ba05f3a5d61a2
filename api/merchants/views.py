from flask_smorest import Blueprint

blp = Blueprint("merchants", __name__, url_prefix="", description="Partner merchants, stores and terminals.")
