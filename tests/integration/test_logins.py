"""The shared sign-in pieces: password hashes, one-time links and codes, attempt accounting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from loyalty.db import utcnow
from loyalty.errors import TokenInvalid, ValidationFailed
from loyalty.logins import services as logins
from loyalty.logins.models import LoginToken


def test_a_password_verifies_against_its_hash_and_nothing_else():
    stored = logins.hash_password("correct horse battery")

    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert logins.verify_password(stored, "correct horse battery").ok
    assert not logins.verify_password(stored, "correct horse batterY").ok
    assert not logins.verify_password(None, "correct horse battery").ok
    assert not logins.verify_password("not a hash", "correct horse battery").ok


def test_a_hash_made_with_weaker_parameters_is_replaced_at_the_next_sign_in():
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse battery")

    check = logins.verify_password(old, "correct horse battery")

    assert check.ok and check.new_hash and check.new_hash != old
    assert logins.verify_password(check.new_hash, "correct horse battery") == logins.PasswordCheck(ok=True)


@pytest.mark.parametrize(
    ("password", "personal"),
    [
        ("short", ()),
        ("x" * 257, ()),
        ("aaaaaaaaaaaa", ()),
        ("1234567890", ()),
        ("Password123", ()),
        ("ana.costa.2026!", (["ana.costa", "example.com"][0],)),
    ],
)
def test_refuses_passwords_that_are_short_long_common_or_personal(password, personal):
    with pytest.raises(ValidationFailed) as caught:
        logins.check_new_password(password, personal=personal)
    assert "password" in caught.value.errors


def test_accepts_a_long_enough_uncommon_password():
    assert logins.check_new_password("tide-lantern-43", personal=("ana", None)) == "tide-lantern-43"


def test_a_link_token_is_found_by_its_secret_and_spent_once(db_session):
    token, secret = logins.issue_link_token(
        db_session, purpose="reset", subject_id="mbr_1", lifetime=timedelta(hours=1), data={"x": 1}
    )

    assert token.secret_hash != secret and secret not in token.secret_hash
    assert logins.find_link_token(db_session, purpose="reset", secret=secret).id == token.id
    with pytest.raises(TokenInvalid):
        logins.find_link_token(db_session, purpose="other", secret=secret)
    spent = logins.spend_link_token(db_session, purpose="reset", secret=secret)
    assert spent.data == {"x": 1}
    with pytest.raises(TokenInvalid):
        logins.spend_link_token(db_session, purpose="reset", secret=secret)


def test_an_expired_link_token_is_refused(db_session):
    token, secret = logins.issue_link_token(
        db_session, purpose="reset", subject_id="mbr_2", lifetime=timedelta(hours=1)
    )
    token.expires_at = utcnow() - timedelta(seconds=1)
    db_session.flush()

    with pytest.raises(TokenInvalid):
        logins.spend_link_token(db_session, purpose="reset", secret=secret)


def test_a_new_secret_replaces_the_ones_sent_before(db_session):
    _, first = logins.issue_link_token(db_session, purpose="reset", subject_id="mbr_3", lifetime=timedelta(hours=1))
    _, second = logins.issue_link_token(db_session, purpose="reset", subject_id="mbr_3", lifetime=timedelta(hours=1))

    with pytest.raises(TokenInvalid):
        logins.find_link_token(db_session, purpose="reset", secret=first)
    assert logins.find_link_token(db_session, purpose="reset", secret=second)


@pytest.mark.parametrize("secret", ["", "short", "x" * 500, None, 12])
def test_malformed_link_secrets_are_simply_invalid(db_session, secret):
    with pytest.raises(TokenInvalid):
        logins.find_link_token(db_session, purpose="reset", secret=secret)


def test_a_code_is_spent_once_and_only_the_latest_works(db_session):
    _, old = logins.issue_code(db_session, purpose="claim", subject_id="mbr_4", lifetime=timedelta(minutes=15))
    token, code = logins.issue_code(
        db_session, purpose="claim", subject_id="mbr_4", lifetime=timedelta(minutes=15), data={"k": "v"}
    )
    assert len(code) == 6 and code.isdigit()
    assert code not in token.secret_hash

    if old != code:
        with pytest.raises(TokenInvalid):
            logins.spend_code(db_session, purpose="claim", subject_id="mbr_4", code=old)
    assert logins.spend_code(db_session, purpose="claim", subject_id="mbr_4", code=f" {code[:3]} {code[3:]} ").data == {
        "k": "v"
    }
    with pytest.raises(TokenInvalid):
        logins.spend_code(db_session, purpose="claim", subject_id="mbr_4", code=code)


def test_a_code_is_void_after_five_wrong_guesses_even_the_right_one_after(db_session):
    token, code = logins.issue_code(db_session, purpose="claim", subject_id="mbr_5", lifetime=timedelta(minutes=15))
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(logins.MAX_CODE_ATTEMPTS):
        with pytest.raises(TokenInvalid):
            logins.spend_code(db_session, purpose="claim", subject_id="mbr_5", code=wrong)

    assert db_session.get(LoginToken, token.id).attempts == logins.MAX_CODE_ATTEMPTS
    with pytest.raises(TokenInvalid):
        logins.spend_code(db_session, purpose="claim", subject_id="mbr_5", code=code)


def test_an_expired_code_is_refused(db_session):
    token, code = logins.issue_code(db_session, purpose="claim", subject_id="mbr_6", lifetime=timedelta(minutes=15))
    token.expires_at = utcnow() - timedelta(seconds=1)
    db_session.flush()

    with pytest.raises(TokenInvalid):
        logins.spend_code(db_session, purpose="claim", subject_id="mbr_6", code=code)


def test_forgetting_someone_deletes_their_secrets(db_session):
    logins.issue_code(db_session, purpose="claim", subject_id="mbr_7", lifetime=timedelta(minutes=15))
    logins.issue_link_token(db_session, purpose="reset", subject_id="mbr_7", lifetime=timedelta(hours=1))

    logins.forget_subject(db_session, subject_id="mbr_7")

    assert db_session.query(LoginToken).filter_by(subject_id="mbr_7").count() == 0


def test_attempts_are_counted_by_a_digest_of_the_account_whatever_its_case():
    key = logins.account_key(" Ana@Example.com ")

    assert key == logins.account_key("ana@example.com")
    assert "ana" not in key and len(key) == 32


def test_a_success_clears_the_failures_counted_before():
    class Account:
        last_login_at = None
        failed_attempts = 0
        last_failed_at = None

    account = Account()
    logins.record_attempt(account, ok=False)
    logins.record_attempt(account, ok=False)
    assert account.failed_attempts == 2 and account.last_failed_at is not None

    logins.record_attempt(account, ok=True)
    assert account.failed_attempts == 0 and account.last_login_at is not None
