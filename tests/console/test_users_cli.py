"""``flask --app wsgi users create`` makes a console login from the command line."""

from __future__ import annotations

from tests.factories_merchants import make_merchant
from tests.factories_staff import PASSWORD, sign_in


def test_users_create_makes_an_admin_who_signs_in(app, client, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "--role", "admin", "--email", "Ops@Example.com", "--name", "Ops"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert sign_in(client, "ops@example.com").status_code == 302
    listed = runner.invoke(args=["users", "list"])
    assert "ops@example.com" in listed.output and PASSWORD not in listed.output


def test_users_create_refuses_merchant_staff_without_a_merchant_and_a_weak_password(app, db_session):
    runner = app.test_cli_runner()
    unbound = runner.invoke(
        args=["users", "create", "--role", "merchant", "--email", "m@example.com", "--name", "M"],
        env={"LOYALTY_STAFF_PASSWORD": PASSWORD},
    )
    assert unbound.exit_code != 0 and "names its merchant" in unbound.output
    merchant = make_merchant(db_session)
    weak = runner.invoke(
        args=[
            "users",
            "create",
            "--role",
            "merchant",
            "--merchant",
            merchant.id,
            "--email",
            "m@example.com",
            "--name",
            "M",
        ],
        env={"LOYALTY_STAFF_PASSWORD": "1234567890"},
    )
    assert weak.exit_code != 0 and "too easy" in weak.output
