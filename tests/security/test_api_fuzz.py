"""Schemathesis against the app's own /api/v1/openapi.json, in process through WSGI.

For every role and for anonymous callers, every operation of the document gets
generated requests (valid and invalid): no 5xx, every status code, content type and
body conforms to the document, and every error has the one error shape.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inventory.blueprints.api.core import OPERATIONS
from inventory.models import Role
from inventory.services import auth
from inventory.services.permissions import ROLE_PERMISSIONS
from tests.factories import NOW

ROLES = ["nurse", "manager", "safety", "admin", None]
# Generated requests per operation and caller. The admin may call everything, so every operation's own
# validation and rules meet the full count as admin (and the public ones as anonymous); another role gets
# half on what it may call (its clinics' scope, its own answers). An operation a caller may not call is
# refused before its body or query is read (401 or 403; tests/security/test_role_matrix.py checks every
# route for every role), so it gets a couple of cases, enough to hold the refusal to the document and the
# error shape. VIALOG_FUZZ_EXAMPLES scales all three (a longer run: VIALOG_FUZZ_EXAMPLES=100).
EXAMPLES = int(os.environ.get("VIALOG_FUZZ_EXAMPLES", "12"))
ROLE = {"nurse": Role.NURSE, "manager": Role.MANAGER, "safety": Role.SAFETY_LEAD, "admin": Role.ADMIN}


def examples_for(role: str | None, method: str, path: str) -> int:
    route = (method.lower(), path.removeprefix("/api/v1"))
    (permission,) = [op.permission for op in OPERATIONS if (op.method, op.path) == route]
    if permission is not None and (role is None or permission not in ROLE_PERMISSIONS[ROLE[role]]):
        return max(1, EXAMPLES // 6)
    return EXAMPLES if role in ("admin", None) else max(1, EXAMPLES // 2)


def error_shape_holds(ctx, response, case):
    """Every error answer is {"error": {"code", "message", "details"?}} with a machine code."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}, body
    assert body["error"]["code"].replace("_", "").isalpha(), body
    assert body["error"]["message"].strip(), body
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_api_conforms_to_its_document_for_every_role(app, session, world, role):
    world.receive("botox", containers=2, expiry=NOW.date().replace(year=2099))
    world.receive("filler", lot="F1", expiry=NOW.date().replace(year=2099))
    headers = {}
    if role is not None:
        token, _ = auth.issue_token(session, world.users[role], hours=24 * 365 * 20, now=NOW)
        headers["Authorization"] = f"Bearer {token}"
    session.flush()

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        examples = examples_for(role, operation.method, operation.path)

        # Signing out revokes the token it carries: that operation gets a fresh token for every case.
        signs_out = (operation.method.upper() == "DELETE" and operation.path.endswith("/auth/tokens/current")) or (
            operation.method.upper() == "POST" and operation.path.endswith("/auth/logout"))

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case):
            nonlocal tried
            tried += 1
            sent = headers
            if signs_out and role is not None:
                fresh, _ = auth.issue_token(session, world.users[role], hours=1, now=NOW)
                session.flush()
                sent = {"Authorization": f"Bearer {fresh}"}
            case.call_and_validate(headers=sent, checks=CHECKS, additional_checks=[error_shape_holds])

        try:
            exercise()
        except Exception as failure:
            raise AssertionError(f"{operation.label} as {role or 'anonymous'}: {failure}") from failure
    print(f"fuzz: {tried} generated requests as {role or 'anonymous'}")
    assert tried >= EXAMPLES
