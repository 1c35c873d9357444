"""Every route of the app, for every role and for anonymous users, against DESIGN.md's role table.

A route whose view declares no access fails the test: nobody may add a page or an
endpoint without saying who may use it.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from inventory.models import Role
from inventory.services import auth
from inventory.services.permissions import PUBLIC, ROLE_PERMISSIONS, SIGNED_IN, Permission
from tests.factories import NOW, PASSWORD

# DESIGN.md "Roles", transcribed independently of the code's own table.
DESIGN_ROLE_TABLE = {
    Permission.CART: {"nurse", "manager", "safety_lead", "admin"},
    Permission.RECEIVE: {"manager", "admin"},
    Permission.CATALOG: {"manager", "admin"},
    Permission.RECONCILE: {"manager", "admin"},
    Permission.RECALL: {"safety_lead", "admin"},
    Permission.KIT_CHECK: {"nurse", "manager", "safety_lead", "admin"},
    Permission.USERS: {"admin"},
    # Issue 20: temperature excursions are recorded by whoever finds them among those who run the stock.
    Permission.COLD_CHAIN: {"manager", "safety_lead", "admin"},
}
ROLE_USERS = {Role.NURSE: "nurse", Role.MANAGER: "manager", Role.SAFETY_LEAD: "safety", Role.ADMIN: "admin"}
DENIED = {401, 403}


def test_the_code_grants_exactly_the_design_role_table():
    granted = {p: {r.value for r, ps in ROLE_PERMISSIONS.items() if p in ps} for p in Permission}
    assert granted == DESIGN_ROLE_TABLE


def _routes(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "999999" if m.group(1) == "int" else "VL00000000", rule.rule)
            yield rule.endpoint, method, url, getattr(view, "access", None)


def test_every_route_declares_who_may_use_it(app):
    unclassified = [(endpoint, method) for endpoint, method, _, access in _routes(app) if access is None]
    assert unclassified == []


@pytest.fixture
def callers(app, session, world):
    """A test client per role (signed in to pages and holding an API token) and an anonymous one."""
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own tests; here only roles are under test
    clients = {}
    for role, username in ROLE_USERS.items():
        client = app.test_client()
        assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
        token, _ = auth.issue_token(session, world.users[username], hours=24 * 365 * 20, now=NOW)
        # A second token for POST /api/v1/auth/logout, which revokes the one it carries.
        spare, _ = auth.issue_token(session, world.users[username], hours=24 * 365 * 20, now=NOW)
        clients[role.value] = (client, token, spare)
    clients["anonymous"] = (app.test_client(), None, None)
    session.flush()
    yield clients
    app.config["WTF_CSRF_ENABLED"] = True


def _call(client, token, method, url):
    headers = {"Authorization": f"Bearer {token}"} if token and url.startswith("/api/") else {}
    kwargs = {"json": {}} if method in {"POST", "PATCH", "PUT"} and url.startswith("/api/") else {}
    return client.open(url, method=method, headers=headers, **kwargs)


def test_every_route_answers_each_role_as_the_table_says(app, callers):
    wrong = []
    # Signing out ends the session or revokes the token the other calls need: those go last.
    sign_outs = {"pages.logout", "api.revoke_current_token", "api.sign_out"}
    for endpoint, method, url, access in sorted(_routes(app), key=lambda r: r[0] in sign_outs):
        for caller, (client, token, spare) in callers.items():
            status = _call(client, spare if endpoint == "api.sign_out" else token, method, url).status_code
            is_api = url.startswith("/api/")
            if access == PUBLIC:
                allowed = True
            elif caller == "anonymous":
                allowed = False
            elif access == SIGNED_IN:
                allowed = True
            else:
                allowed = caller in DESIGN_ROLE_TABLE[Permission(access)]
            if allowed and (status in DENIED or (not is_api and status == 302 and caller == "anonymous" and access != PUBLIC)):
                wrong.append((endpoint, method, caller, status, "should be allowed"))
            if not allowed:
                expected = 403 if caller != "anonymous" else (401 if is_api else 302)
                if status != expected:
                    wrong.append((endpoint, method, caller, status, f"expected {expected}"))
    assert wrong == [], "\n".join(map(str, wrong))
