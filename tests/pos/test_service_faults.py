"""The till against the real service (gunicorn, its database and Redis) when things go wrong.

- The service is stopped while a till sells 200 sales; it comes back; every
  sale is delivered once, and the member's points equal those of a till that
  was never offline.
- The service commits a sale but its answer is lost on the way back; the till
  sends it again; nothing is awarded twice.
- The till process is killed with sales still queued; restarted, it delivers
  them all.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading

import pytest

from pos_plugins.client import AlreadyUsed, Item, ServiceUnavailable, TillClient
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

    def make(name: str, base: str | None = None) -> TillClient:
        terminal = add_terminal(service["service"].base, service["merchant_key"], service["store_id"], name)
        client = TillClient(
            base or service["service"].base,
            terminal["api_key"],
            terminal["signing_secret"],
            str(tmp_path / f"{name}.db"),
            5,
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
