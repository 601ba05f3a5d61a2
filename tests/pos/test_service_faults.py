"""The till against the real service (gunicorn, its database and Redis) when things go wrong.

- The service is stopped while a till sells 200 sales; it comes back; every
  sale is delivered once, and the member's points equal those of a till that
  was never offline.
- The service commits a sale but its answer is lost on the way back; the till
  sends it again; nothing is awarded twice.
- The till process is killed with sales still queued; restarted, it delivers
  them all.
- A backlog goes in batches: good and bad sales in one batch are delivered or
  rejected each as if sent alone; a batch whose answer is lost is replayed,
  awarding nothing twice; a batch cut off part way (the service killed while
  recording it) is sent again and every sale is recorded exactly once.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from loyalty.ledger.models import LedgerEntry
from loyalty.purchases.models import Purchase
from pos_plugins.client import AlreadyUsed, Item, ServiceUnavailable, TillClient
from tests.ledger_checks import assert_ledger_consistent
from tests.pos.test_durability import SELLER, _kill_after, _run
from tests.pos.test_queue import _dead_url
from tests.service import (
    add_terminal,
    call,
    flask_cli,
    free_port,
    onboard_till,
    service_environment,
    start_web,
    stop,
    wait_until_healthy,
)

SALES = 200


class Service:
    """gunicorn on a fixed port, which a test may kill and start again."""

    def __init__(self, env, port: int):
        self.env, self.port = env, port
        self.base = f"http://127.0.0.1:{port}"
        self.web = None

    def start(self) -> None:
        self.web = start_web(self.env, self.port)
        wait_until_healthy(self.base, [self.web])

    def kill(self) -> None:
        stop([self.web], sig=signal.SIGKILL)
        self.web = None


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with service_environment(tmp_path_factory.mktemp("pos-instance"), "pos") as env:
        flask_cli(env, "db", "upgrade")
        admin = flask_cli(env, "keys", "create", "--role", "admin", "--name", "pos").strip().splitlines()[-1]
        running = Service(env, free_port())
        running.start()
        try:
            base = running.base
            for rule in (
                {"name": "Base", "priority": 10, "effect": {"type": "per_amount", "points": 1, "per_minor": 100}},
                # Once a day per member: a sale delivered twice or out of order would change who gets it.
                {
                    "name": "First visit of the day",
                    "priority": 5,
                    "effect": {"type": "bonus", "points": 25},
                    "limits": {"per_member": {"times": 1, "period": "day"}},
                },
            ):
                status, created = call(base, "POST", "/api/v1/rules", key=admin, body=rule)
                assert status == 201, created
                status, body = call(base, "POST", f"/api/v1/rules/{created['id']}/activate", key=admin)
                assert status == 200, body
            merchant = onboard_till(base, admin)
            yield {"service": running, "admin": admin, **merchant}
        finally:
            if running.web is not None:
                stop([running.web])


@pytest.fixture
def new_till(service, tmp_path):
    clients = []

    def make(name: str, base: str | None = None, timeout: float = 5) -> TillClient:
        terminal = add_terminal(service["service"].base, service["merchant_key"], service["store_id"], name)
        client = TillClient(
            base or service["service"].base,
            terminal["api_key"],
            terminal["signing_secret"],
            str(tmp_path / f"{name}.db"),
            timeout,
        )
        client.terminal = terminal
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _basket(n: int) -> dict:
    items = [Item("LATTE", 1 + n % 3, 450, "coffee"), Item("CAKE", 1, 300 + 7 * n, "bakery")]
    total = sum(item.quantity * item.unit_price_minor for item in items)
    return {"total_minor": total, "currency": "EUR", "items": items}


def _purchases_of(service, member_id: str) -> list[dict]:
    status, page = call(
        service["service"].base, "GET", f"/api/v1/purchases?member_id={member_id}&limit=500", key=service["admin"]
    )
    assert status == 200, page
    assert page["next_cursor"] is None
    return page["items"]


def _points(service, member_id: str) -> tuple[int, int]:
    status, member = call(service["service"].base, "GET", f"/api/v1/members/{member_id}", key=service["admin"])
    assert status == 200, member
    return member["balance"]["available"], member["balance"]["pending"]


def test_sales_made_while_the_service_is_down_are_delivered_once_when_it_is_back(service, new_till):
    online, offline = new_till("always-online"), new_till("offline")
    steady = online.enrol(email="steady@example.com", name="Steady")
    patient = offline.lookup_email(offline.enrol(email="patient@example.com").email)
    assert offline.lookup_qr(" ".join(patient.card_number[i : i + 4] for i in range(0, 16, 4))).id == patient.id

    for n in range(SALES):
        receipt = online.purchase(f"ON-{n:04d}", member_id=steady.id, **_basket(n))
        assert not receipt.points_pending_delivery

    service["service"].kill()
    try:
        for n in range(SALES):
            receipt = offline.purchase(f"OFF-{n:04d}", card_number=patient.card_number, **_basket(n))
            assert receipt.points_pending_delivery
        assert offline.queue_counts()["pending"] == SALES
        with pytest.raises(ServiceUnavailable):
            offline.lookup_email("patient@example.com")
    finally:
        service["service"].start()

    result = offline.flush(force=True)
    assert (result.delivered, result.rejected, result.pending) == (SALES, 0, 0), result.error
    delivered = _purchases_of(service, patient.id)
    assert sorted(p["external_id"] for p in delivered) == [f"OFF-{n:04d}" for n in range(SALES)]
    assert _points(service, patient.id) == _points(service, steady.id)
    assert sum(p["points_awarded"] for p in delivered) == sum(
        p["points_awarded"] for p in _purchases_of(service, steady.id)
    )


class LossyProxy:
    """Forwards connections to the service; for the next ``drop`` ones, lets the request through, waits for the
    whole answer, and closes the till's connection without passing the answer on."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.drop = 0
        self.dropped = 0
        self.connections = 0  # gunicorn's sync workers close each connection: one per request
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if target is not None:
                    target.sendall(data)
        if target is not None:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def _serve(self, client: socket.socket) -> None:
        with self.lock:
            drop = self.drop > 0
            self.drop -= drop
            self.connections += 1
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        # The service answers and closes; dropping means reading the answer to its end and passing none of it on.
        self._pump(upstream, None if drop else client)
        if drop:
            with self.lock:
                self.dropped += 1
        for sock in (client, upstream):
            # shutdown() wakes the other pump and sends the FIN at once; close() alone would wait for it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


def test_a_sale_whose_answer_is_lost_is_sent_again_and_never_awarded_twice(service, new_till):
    proxy = LossyProxy(service["service"].port)
    try:
        till = new_till("lossy", base=proxy.base)
        member = till.enrol(phone="+351912345678")
        proxy.drop = 1
        receipt = till.purchase("LOST-1", phone="+351912345678", **_basket(1))
        assert receipt.points_pending_delivery and proxy.dropped == 1
        # The service did commit it.
        [stored] = _purchases_of(service, member.id)
        assert stored["external_id"] == "LOST-1"
        before = _points(service, member.id)

        result = till.flush(force=True)
        assert result.delivered == 1
        [row] = till.queue()
        assert row.status == "delivered" and row.http_status == 200  # replayed by the service
        assert len(_purchases_of(service, member.id)) == 1
        assert _points(service, member.id) == before
        assert sum(before) == stored["points_awarded"] > 0
    finally:
        proxy.close()


def test_a_reward_code_whose_answer_is_lost_is_used_once_and_the_till_is_told_it_worked(service, new_till):
    proxy = LossyProxy(service["service"].port)
    try:
        till = new_till("lossy-use", base=proxy.base)
        member = till.enrol(phone="+351912345679")
        base, admin = service["service"].base, service["admin"]
        status, body = call(
            base,
            "POST",
            f"/api/v1/members/{member.id}/adjustments",
            key=admin,
            body={"points": 200, "reason": "Gift", "idempotency_key": "ADJ-LOST"},
        )
        assert status == 201, body
        status, reward = call(base, "POST", "/api/v1/rewards", key=admin, body={"name": "Coffee", "points_cost": 100})
        assert status == 201, reward
        redemption = till.redeem_reward(member_id=member.id, reward_id=reward["id"], idempotency_key="R-LOST")

        proxy.drop = 1
        used = till.use_reward_code(redemption.code)
        assert proxy.dropped == 1  # the first answer never reached the till: it sent the use again
        assert used.status == "used"
        status, stored = call(base, "GET", f"/api/v1/redemptions/{redemption.id}", key=admin)
        assert stored["status"] == "used" and used.id == redemption.id
        # A new scan of the same code is a second use, and refused.
        with pytest.raises(AlreadyUsed):
            till.use_reward_code(redemption.code)
    finally:
        proxy.close()


def test_a_till_killed_with_sales_queued_delivers_them_all_after_a_restart(service, new_till, tmp_path):
    till = new_till("crashing")
    member = till.enrol(email="crash@example.com")
    queue = str(tmp_path / "crashing-till.db")
    seller = (
        SELLER.replace('"till-key"', repr(till.terminal["api_key"]))
        .replace('"till-secret"', repr(till.terminal["signing_secret"]))
        .replace('email="shopper@example.com"', f"member_id={member.id!r}")
    )
    # The network is down (nothing listens there) while the till sells; then the till is killed.
    confirmed = _kill_after(_run(seller, _dead_url(), queue, "0", "100000"), 30)

    restarted = TillClient(service["service"].base, till.terminal["api_key"], till.terminal["signing_secret"], queue, 5)
    try:
        queued = [row.external_id for row in restarted.queue()]
        assert {f"R-{int(n):05d}" for n in confirmed} <= set(queued)
        result = restarted.flush(force=True)
        assert (result.rejected, result.pending) == (0, 0), result.error
    finally:
        restarted.close()
    delivered = sorted(p["external_id"] for p in _purchases_of(service, member.id))
    assert delivered == sorted(queued)


def _queue(till: TillClient, sales: list[tuple[str, dict, dict]]) -> None:
    for external_id, member, basket in sales:
        assert till.purchase(external_id, deliver=False, **member, **basket).points_pending_delivery


def test_good_and_bad_sales_in_one_batch_are_delivered_or_rejected_each_as_if_sent_alone(service, new_till):
    proxy = LossyProxy(service["service"].port)
    try:
        till, other = new_till("mixed", base=proxy.base), new_till("mixed-other")
        member = till.enrol(email="mixed@example.com")
        # Another till of the merchant used this receipt id first.
        assert not other.purchase("SHARED-1", member_id=member.id, **_basket(99)).points_pending_delivery
        before = _points(service, member.id)
        _queue(
            till,
            [
                ("MIX-1", {"member_id": member.id}, _basket(1)),
                ("MIX-2", {"email": "nobody@example.com"}, _basket(2)),
                ("MIX-3", {"member_id": member.id}, _basket(3) | {"currency": "USD"}),
                ("SHARED-1", {"member_id": member.id}, _basket(4)),
                ("MIX-5", {"card_number": member.card_number}, _basket(5)),
            ],
        )
        connections = proxy.connections
        result = till.flush(force=True)
        assert proxy.connections == connections + 1  # one request for the five
        assert (result.delivered, result.rejected, result.pending) == (2, 3, 0), result.error
        assert [(r.external_id, r.status, r.http_status, r.reason) for r in till.queue()] == [
            ("MIX-1", "delivered", 201, None),
            ("MIX-2", "rejected", 404, "member_not_found"),
            ("MIX-3", "rejected", 422, "currency_mismatch"),
            ("SHARED-1", "rejected", 409, "idempotency_conflict"),
            ("MIX-5", "delivered", 201, None),
        ]
        recorded = {p["external_id"]: p["points_awarded"] for p in _purchases_of(service, member.id)}
        assert set(recorded) == {"SHARED-1", "MIX-1", "MIX-5"}
        gained = sum(_points(service, member.id)) - sum(before)
        assert gained == recorded["MIX-1"] + recorded["MIX-5"] > 0
    finally:
        proxy.close()


def test_a_batch_whose_answer_is_lost_is_sent_again_and_awards_nothing_twice(service, new_till):
    proxy = LossyProxy(service["service"].port)
    try:
        till = new_till("lossy-batch", base=proxy.base)
        member = till.enrol(email="lossy-batch@example.com")
        _queue(till, [(f"LB-{n:03d}", {"member_id": member.id}, _basket(n)) for n in range(30)])
        proxy.drop = 1
        lost = till.flush(force=True)
        assert (lost.delivered, lost.pending) == (0, 30) and isinstance(lost.error, ServiceUnavailable)
        assert proxy.dropped == 1
        # The service recorded all thirty.
        assert len(_purchases_of(service, member.id)) == 30
        awarded = _points(service, member.id)

        again = till.flush(force=True)
        assert (again.delivered, again.pending) == (30, 0), again.error
        assert {(r.status, r.http_status) for r in till.queue()} == {("delivered", 200)}  # replayed
        assert len(_purchases_of(service, member.id)) == 30
        assert _points(service, member.id) == awarded and sum(awarded) > 0
    finally:
        proxy.close()


def test_a_batch_cut_off_part_way_is_sent_again_and_every_sale_is_recorded_exactly_once(service, new_till):
    # A batch this heavy can take seconds on a loaded machine: the till waits for its answer.
    till = new_till("cut-off", timeout=60)
    member = till.enrol(email="cut-off@example.com")
    # Twenty lines a sale, so that recording the batch takes long enough to be caught part way.
    items = [Item(f"SKU-{k}", 1, 100 + k, "grocery") for k in range(20)]
    basket = {"total_minor": sum(i.unit_price_minor for i in items), "currency": "EUR", "items": items}
    _queue(till, [(f"CUT-{n:03d}", {"member_id": member.id}, basket) for n in range(100)])

    engine = create_engine(service["service"].env["DATABASE_URL"])
    flushed: list = []
    try:

        def recorded() -> int:
            with engine.connect() as conn:
                return conn.scalar(select(func.count()).select_from(Purchase).where(Purchase.member_id == member.id))

        sender = threading.Thread(target=lambda: flushed.append(till.flush(force=True)))
        sender.start()
        deadline = time.monotonic() + 60
        while recorded() == 0:
            assert time.monotonic() < deadline, "the batch was never recorded"
        service["service"].kill()  # part way through the batch
        sender.join(30)
        try:
            [cut] = flushed
            assert (cut.delivered, cut.pending) == (0, 100) and isinstance(cut.error, ServiceUnavailable)
            done = recorded()
            assert 0 < done < 100, "the service was not caught part way through the batch"
            with Session(engine) as session:
                # What was recorded is whole: each purchase with its points in the ledger, nothing else.
                assert (
                    session.scalar(
                        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.member_id == member.id)
                    )
                    == done
                )
                assert_ledger_consistent(session, member.id)
        finally:
            service["service"].start()

        result = till.flush(force=True)
        assert (result.delivered, result.rejected, result.pending) == (100, 0, 0), result.error
        statuses = [r.http_status for r in till.queue()]
        assert statuses == [200] * done + [201] * (100 - done)  # the first ones replayed, in order
        purchases = _purchases_of(service, member.id)
        assert sorted(p["external_id"] for p in purchases) == [f"CUT-{n:03d}" for n in range(100)]
        assert sum(_points(service, member.id)) == sum(p["points_awarded"] for p in purchases) > 0
        with Session(engine) as session:
            assert_ledger_consistent(session, member.id)
    finally:
        engine.dispose()
