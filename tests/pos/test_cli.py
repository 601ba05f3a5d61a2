"""loyalty-pos: send a receipt file, show the queue, flush it."""

from __future__ import annotations

import json

from pos_plugins.client.cli import main
from tests.pos.stub import API_KEY, SECRET, StubService
from tests.pos.test_queue import _dead_url


def test_a_receipt_sent_while_offline_is_queued_then_flushed(tmp_path, capsys, monkeypatch):
    receipt = tmp_path / "receipt.json"
    receipt.write_text(
        json.dumps(
            {
                "external_id": "R-000123",
                "member": {"email": "mei@example.com"},
                "occurred_at": "2026-11-22T10:15:00+08:00",
                "currency": "EUR",
                "total_minor": 4250,
                "items": [{"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price_minor": 450}],
            }
        )
    )
    monkeypatch.setenv("LOYALTY_API_KEY", API_KEY)
    monkeypatch.setenv("LOYALTY_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("LOYALTY_QUEUE", str(tmp_path / "queue.db"))

    assert main(["--url", _dead_url(), "send", str(receipt)]) == 3
    assert "points pending" in capsys.readouterr().out
    assert main(["queue"]) == 0
    listing = capsys.readouterr().out
    assert "pending 1, delivered 0, rejected 0" in listing and "R-000123" in listing

    with StubService() as service:
        monkeypatch.setenv("LOYALTY_URL", service.base)
        assert main(["flush"]) == 3  # still waiting for its backoff
        assert main(["flush", "--force"]) == 0
        assert "delivered 1, rejected 0, pending 0" in capsys.readouterr().out
        assert service.requests[-1][2]["member"] == {"email": "mei@example.com"}
        service.script = [(422, {"code": 422, "reason": "currency_mismatch", "message": "Not EUR."})]
        receipt.write_text(receipt.read_text().replace("R-000123", "R-000124"))
        assert main(["send", str(receipt)]) == 1
        assert "currency_mismatch" in capsys.readouterr().err
    assert main(["queue", "--status", "rejected", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["external_id"] == "R-000124" and row["reason"] == "currency_mismatch"


def test_without_a_url_or_key_it_says_what_is_missing(tmp_path, capsys, monkeypatch):
    for name in ("LOYALTY_URL", "LOYALTY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--queue", str(tmp_path / "q.db"), "flush"]) == 2
    assert "LOYALTY_URL" in capsys.readouterr().err
