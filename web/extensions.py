"""The Flask extensions shared by the API, the portal and the console."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from loyalty.db import Base

# Models subclass loyalty.db.Base (no Flask in the domain); the extension only
# needs its metadata and provides the request-scoped session.
db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
migrate = Migrate(compare_type=True, render_as_batch=True)
