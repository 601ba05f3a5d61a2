"""The migrations build exactly the schema the models declare, and go down and up again.

Runs on the database of the run (SQLite, or PostgreSQL under
``TEST_DATABASE_URL``), in a fresh database of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tests.databases import fresh_database
from web.extensions import db

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")


@pytest.fixture()
def empty_app(app, tmp_path):
    """An application on an empty database of its own (``app`` puts the run's settings in the environment)."""
    from wsgi import create_app

    with fresh_database("migrations", tmp_path) as url:
        fresh = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with fresh.app_context():
            yield fresh
            db.session.remove()
            db.engine.dispose()


def _differences() -> list:
    """What ``flask db migrate`` would still generate: models against the database."""
    # The options ``flask db migrate`` runs with (web/extensions.py).
    options = current_app.extensions["migrate"].configure_args
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": options.get("compare_type", True)})
        return compare_metadata(context, db.metadata)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_the_migrations_have_a_single_head():
    heads = ScriptDirectory(MIGRATIONS).get_heads()
    assert len(heads) == 1, f"migrations branch into heads {heads}: merge them or chain one after the other"


def test_upgrade_from_empty_builds_the_schema_the_models_declare(empty_app):
    upgrade(directory=MIGRATIONS)

    assert _tables() == set(db.metadata.tables)
    differences = _differences()
    assert not differences, "the models and the migrations disagree:\n" + "\n".join(map(repr, differences))


def test_downgrade_to_base_then_upgrade_again_gives_the_same_schema(empty_app):
    upgrade(directory=MIGRATIONS)
    downgrade(directory=MIGRATIONS, revision="base")
    assert _tables() == set()

    upgrade(directory=MIGRATIONS)
    assert _tables() == set(db.metadata.tables)
    assert not _differences()
