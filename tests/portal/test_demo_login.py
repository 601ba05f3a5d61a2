"""`manage.py run` shows a working portal: the demo prints a member's login, and it works."""

from __future__ import annotations

import re

from tests.portal.helpers import Visitor, log_in


def test_the_demo_prints_a_portal_login_that_works_with_points_to_spend(app, client, db_session, redis_conn):
    output = app.test_cli_runner().invoke(args=["demo"]).output
    found = re.search(r"Member portal: /portal/ \(log in as (\S+), password (\S+)\)", output)
    assert found, output
    visitor = Visitor(client)

    assert log_in(visitor, found.group(1), found.group(2)).status_code == 302

    home = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", visitor.get("/portal/").get_data(as_text=True)))
    available = int(re.search(r"Available ([\d,]+)", home).group(1).replace(",", ""))
    pending = int(re.search(r"Pending ([\d,]+)", home).group(1).replace(",", ""))
    assert available > 0 and pending > 0
    assert "Your tier Blue" in home and "Harbour Coffee" in home
    assert "Free espresso" in visitor.get("/portal/rewards").get_data(as_text=True)
    again = app.test_cli_runner().invoke(args=["demo"]).output
    assert "already there" in again and found.group(0) in again
