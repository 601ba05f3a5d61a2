"""The demo program that `manage.py run` loads: created once, with keys that work and points earned."""

from sqlalchemy import select

from loyalty.analytics.models import AnalyticsRun
from loyalty.ledger.services import balance
from loyalty.members.models import Member
from tests.factories import bearer


def test_the_demo_is_created_once_and_its_admin_key_works(app, client, db_session, redis_conn):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    admin_key = first.output.strip().splitlines()[-1]
    assert client.get("/api/v1/program", headers=bearer(admin_key)).json["name"] == "Harbour City Rewards"

    ana = db_session.scalar(select(Member).where(Member.email == "ana@example.com"))
    points = balance(db_session, ana)
    earned = [
        int(line.split(": ")[1].split()[0])
        for line in first.output.splitlines()
        if line.strip().startswith("purchase DEMO-") and ana.id in line
    ]
    assert len(earned) == 2 and all(n > 0 for n in earned)
    assert points.available + points.pending == sum(earned)
    assert "claim code" in first.output

    # The console's admin login printed by the demo signs in.
    from tests.factories_staff import sign_in

    admin_line = next(line for line in first.output.splitlines() if line.strip().startswith("admin "))
    _role, email, _word, password = admin_line.split()
    assert sign_in(client, email, password).status_code == 302
    assert client.get("/console/applications").status_code == 200

    # A history for the console's analytics and campaigns: members in several stages, from one finished run.
    stages = {stage for (stage,) in db_session.execute(select(Member.lifecycle_stage).distinct())}
    assert {"prospect", "growth", "maturity", "lapsed"} <= stages
    run = db_session.scalar(select(AnalyticsRun))
    assert run.status == "done" and run.members == db_session.query(Member).count()
    assert client.get("/console/analytics").status_code == 200

    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "already there" in again.output
    assert db_session.scalar(select(Member).where(Member.email == "ana@example.com")).id == ana.id
