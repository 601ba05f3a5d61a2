"""The served OpenAPI document is valid, lists the contract's paths, and every
operation in it answers as it documents, whatever the input.

The second test generates requests for each operation the document contains
(schemathesis), so endpoints added later are covered without touching this file.
"""

from __future__ import annotations

import re
from traceback import format_exception_only

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.factories import bearer, make_key

API_PREFIX = "/api/v1"

# Operations named in the public contract; each one the service serves must be
# in the document.
CONTRACT_PATHS = {
    "/program": {"get", "patch"},
    "/members": {"get", "post"},
    "/members/{id}": {"get", "patch", "delete"},
    "/members/{id}/card.svg": {"get"},
    "/members/{id}/card.png": {"get"},
    "/members/{id}/activity": {"get"},
    "/members/{id}/claims": {"post"},
    "/merchants/applications": {"post"},
    "/merchants/applications/{id}/approve": {"post"},
    "/merchants/applications/{id}/reject": {"post"},
    "/merchants/{id}": {"get", "patch"},
    "/merchants/{id}/stores": {"post"},
    "/stores/{id}/terminals": {"post"},
    "/purchases": {"get", "post"},
    "/purchases/{id}": {"get"},
    "/purchases/quote": {"post"},
    "/purchases/{id}/returns": {"post"},
    "/rules": {"get", "post"},
    "/rules/{id}": {"get", "patch"},
    "/rules/{id}/activate": {"post"},
    "/rules/{id}/pause": {"post"},
    "/rules/simulate": {"post"},
    "/tiers": {"get", "put"},
    "/rewards": {"get", "post"},
    "/rewards/{id}": {"patch"},
    "/redemptions": {"post"},
    "/redemptions/{id}/cancel": {"post"},
    "/redemptions/use": {"post"},
}


def _shape(path: str) -> str:
    """A path with its parameter names erased: ``/members/{member_id}`` -> ``/members/{}``."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _served_rules(app) -> set[tuple[str, str]]:
    """(method, path shape) of every API route the app serves, from its URL map."""
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or "/docs" in rule.rule or rule.rule.endswith("openapi.json"):
            continue
        shape = _shape(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(API_PREFIX) :]))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method.lower(), shape))
    return served


@pytest.fixture()
def openapi_document(client) -> dict:
    response = client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def test_the_served_document_is_valid_openapi_3(openapi_document):
    assert openapi_document["openapi"].startswith("3.")
    try:
        schemathesis.openapi.from_dict(openapi_document).validate()
    except jsonschema_rs.ValidationError as exc:
        pytest.fail(f"the served OpenAPI document is invalid: {exc}")


def test_every_api_route_the_service_serves_is_documented(app, openapi_document):
    documented = {
        (method, _shape(path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path))
        for path, item in openapi_document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    served = _served_rules(app)
    expected = {(method, _shape(path)) for path, methods in CONTRACT_PATHS.items() for method in methods}
    missing = sorted((expected & served) - documented)
    assert not missing, f"contract operations served but not in openapi.json: {missing}"
    # Not only the contract's: every route under /api/v1 is in the document.
    undocumented = sorted(served - documented)
    assert not undocumented, f"served but not in openapi.json: {undocumented}"
    assert ("get", "/program") in documented


# Bounded so the whole document runs in seconds: a few positive and a few
# negative cases per operation, the same ones on every run.
EXAMPLES_PER_MODE = 6
GENERATION = settings(
    max_examples=EXAMPLES_PER_MODE,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, response_schema_conformance]
# The operations are dealt into shards so that test workers share them out.
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_documented_operation_answers_as_documented(shard, app, db_session, redis_conn):
    """Generated requests, valid and invalid, to every operation in the document, with
    an admin key: no 5xx, and each response matches the schema documented for it."""
    schema = schemathesis.openapi.from_wsgi(f"{API_PREFIX}/openapi.json", app)
    headers = bearer(make_key(db_session, "admin"))
    failures: list[str] = []
    operations = 0
    for index, result in enumerate(schema.get_all_operations()):
        if index % SHARDS != shard:
            continue
        operation = result.ok()  # an operation the loader cannot read is itself a failure
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, headers)()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no body, only free-form strings).
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"{operation.label}: no valid request can be generated")
            except (Exception, FailureGroup) as exc:  # noqa: BLE001  (report every failing operation, not the first)
                failures.append(f"{operation.label}, {mode.value} cases:\n" + "".join(format_exception_only(exc)))
    assert operations, f"the document lists fewer than {shard + 1} operations"
    assert not failures, "\n\n".join(failures)


def _exercise(operation, mode: GenerationMode, headers: dict[str, str]):
    @GENERATION
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    def exercise(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    return exercise


def test_an_operation_keeps_its_docstring_description_and_names_its_roles(openapi_document):
    post = openapi_document["paths"][f"{API_PREFIX}/purchases"]["post"]
    assert post["summary"] == "Record a sale and award its points in real time."
    assert "409 `idempotency_conflict`" in post["description"]
    assert post["description"].endswith("Roles: admin, merchant, terminal.")
