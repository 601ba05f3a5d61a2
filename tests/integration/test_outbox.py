"""The outbox: work recorded with the change, handed to RQ after commit, run once."""

from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from loyalty import queue
from loyalty.actors import SYSTEM
from loyalty.audit.models import AuditEvent
from loyalty.audit.services import record_event
from loyalty.db import utcnow
from loyalty.outbox import services as outbox
from loyalty.outbox.models import OutboxMessage


@outbox.task(queue="default")
def record_ping(session, *, label: str) -> None:
    """A task with a visible effect in the database."""
    record_event(session, actor=SYSTEM, action="test.ping", object_type="test", object_id=label)


def pings(session) -> list[str]:
    return list(session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "test.ping")))


@pytest.fixture()
def redis_down(app):
    """Point this process at a Redis that is not there, then back."""
    saved = dict(queue._config)
    queue.configure(url="redis://127.0.0.1:1/0", embedded_path=None)
    yield
    queue.configure(url=saved["url"], embedded_path=saved["embedded_path"])


def test_a_task_is_enqueued_only_when_its_transaction_commits(db_session, redis_conn, run_jobs):
    message = outbox.add_task(db_session, record_ping, label="a")
    assert not Job.exists(f"outbox-{message.id}", connection=redis_conn)
    db_session.commit()
    assert Job.exists(f"outbox-{message.id}", connection=redis_conn)

    assert run_jobs() == 1
    db_session.expire_all()
    assert pings(db_session) == ["a"]
    assert db_session.get(OutboxMessage, message.id).done_at is not None


def test_many_tasks_recorded_together_are_each_enqueued_after_commit_and_run_once(db_session, redis_conn, run_jobs):
    messages = outbox.add_tasks(db_session, record_ping, [{"label": "m1"}, {"label": "m2"}, {"label": "m3"}])
    assert not any(Job.exists(f"outbox-{m.id}", connection=redis_conn) for m in messages)
    db_session.commit()
    assert all(Job.exists(f"outbox-{m.id}", connection=redis_conn) for m in messages)
    assert run_jobs() == 3
    db_session.expire_all()
    assert sorted(pings(db_session)) == ["m1", "m2", "m3"]


def test_a_rolled_back_task_is_never_enqueued(db_session, redis_conn, run_jobs):
    message_id = outbox.add_task(db_session, record_ping, label="b").id
    db_session.rollback()
    db_session.commit()
    assert not Job.exists(f"outbox-{message_id}", connection=redis_conn)
    assert run_jobs() == 0
    assert pings(db_session) == []


def test_running_a_message_twice_applies_it_once(db_session, redis_conn):
    message = outbox.add_task(db_session, record_ping, label="c")
    db_session.commit()
    assert outbox.run_message(db_session, message.id) is True
    assert outbox.run_message(db_session, message.id) is False
    assert pings(db_session) == ["c"]


def test_work_committed_while_redis_is_down_is_kept_and_delivered_later(db_session, redis_conn, redis_down, run_jobs):
    message = outbox.add_task(db_session, record_ping, label="d")
    db_session.commit()  # the commit succeeds although Redis is unreachable
    assert db_session.get(OutboxMessage, message.id).done_at is None
    assert outbox.pending_count(db_session) == 1

    # Redis is back: the sweep finds the message that never reached it.
    queue.configure(**redis_conn_config(redis_conn))
    assert outbox.relay_pending(db_session, older_than=timedelta(0)) == 1
    assert outbox.relay_pending(db_session, older_than=timedelta(0)) == 0  # already in Redis: not sent twice
    assert run_jobs() == 1
    db_session.expire_all()
    assert pings(db_session) == ["d"]
    assert outbox.pending_count(db_session) == 0


def test_a_job_taken_by_a_worker_that_lost_redis_before_starting_it_is_sent_again(db_session, redis_conn, run_jobs):
    message = outbox.add_task(db_session, record_ping, label="t")
    db_session.commit()
    job_id = f"outbox-{message.id}"
    # A worker took the job off its queue, and Redis went away before the worker could mark it started:
    # the job still says queued, and no queue holds it.
    Queue(message.queue, connection=redis_conn).remove(job_id)
    assert Job.fetch(job_id, connection=redis_conn).get_status() == JobStatus.QUEUED
    assert outbox.relay_pending(db_session, older_than=timedelta(0)) == 0  # taken moments ago: a worker has it

    db_session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message.id).values(created_at=utcnow() - timedelta(minutes=3))
    )
    db_session.commit()
    assert outbox.relay_pending(db_session, older_than=timedelta(0)) == 1
    assert outbox.relay_pending(db_session, older_than=timedelta(0)) == 0  # in its queue again: not sent twice
    assert run_jobs() == 1
    db_session.expire_all()
    assert pings(db_session) == ["t"]
    assert outbox.pending_count(db_session) == 0


def redis_conn_config(connection) -> dict:
    """The queue settings that reach the same Redis as ``connection``."""
    kwargs = connection.connection_pool.connection_kwargs
    if "path" in kwargs:
        return {"url": f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}", "embedded_path": None}
    return {"url": f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}", "embedded_path": None}


def test_an_unknown_task_is_refused_when_recorded(db_session):
    def not_a_task(session):
        pass

    with pytest.raises(TypeError):
        outbox.add_task(db_session, not_a_task)
    with pytest.raises(LookupError):
        outbox.resolve_task("os.system")


def test_a_savepoint_released_inside_the_transaction_does_not_enqueue_its_tasks_early(db_session, redis_conn):
    message = outbox.add_task(db_session, record_ping, label="s")
    with db_session.begin_nested():
        record_event(db_session, actor=SYSTEM, action="test.other", object_type="test", object_id="x")
    assert not Job.exists(f"outbox-{message.id}", connection=redis_conn)

    db_session.commit()
    assert Job.exists(f"outbox-{message.id}", connection=redis_conn)


def test_a_savepoint_rolled_back_keeps_the_tasks_recorded_before_it(db_session, redis_conn, run_jobs):
    message = outbox.add_task(db_session, record_ping, label="k")
    with pytest.raises(ValueError), db_session.begin_nested():
        record_event(db_session, actor=SYSTEM, action="test.other", object_type="test", object_id="y")
        raise ValueError("the savepoint's work is undone")
    db_session.commit()

    assert Job.exists(f"outbox-{message.id}", connection=redis_conn)
    assert run_jobs() == 1
    assert pings(db_session) == ["k"]


def test_tasks_committed_while_held_are_enqueued_when_the_block_ends(db_session, redis_conn, run_jobs):
    with outbox.relay_held(db_session):
        first = outbox.add_task(db_session, record_ping, label="h1")
        db_session.commit()
        second = outbox.add_task(db_session, record_ping, label="h2")
        db_session.commit()
        assert not any(Job.exists(f"outbox-{m.id}", connection=redis_conn) for m in (first, second))
    assert all(Job.exists(f"outbox-{m.id}", connection=redis_conn) for m in (first, second))
    assert run_jobs() == 2
    assert sorted(pings(db_session)) == ["h1", "h2"]
    # Outside the block, each commit relays its own again.
    third = outbox.add_task(db_session, record_ping, label="h3")
    db_session.commit()
    assert Job.exists(f"outbox-{third.id}", connection=redis_conn)


def test_tasks_held_by_a_block_that_fails_are_left_for_the_sweep(db_session, redis_conn, run_jobs):
    with pytest.raises(RuntimeError), outbox.relay_held(db_session):
        message = outbox.add_task(db_session, record_ping, label="f")
        db_session.commit()
        raise RuntimeError("the block fails after the commit")
    assert not Job.exists(f"outbox-{message.id}", connection=redis_conn)
    assert outbox.relay_pending(db_session, older_than=timedelta(0)) == 1
    assert run_jobs() == 1
    assert pings(db_session) == ["f"]
