"""The "vialog.security" log: refused authorisations, next to the sign-in events of services/throttle.py.

Every 403 the app answers, page or API, is logged with who asked, from where and for what. Values a
caller typed are logged with repr(), so a username cannot forge extra log lines. Passwords and tokens
are never logged.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from flask_login import current_user

security_log = logging.getLogger("vialog.security")


def _caller() -> str:
    user = getattr(g, "api_user", None)
    if user is None and current_user and current_user.is_authenticated:
        user = current_user
    if user is None:
        return "anonymous"
    return f"{user.username!r} ({user.role.value})"


def init_security_log(app: Flask) -> None:
    @app.after_request
    def _log_refusals(response: Response) -> Response:
        if response.status_code == 403:
            security_log.warning("refused %s %s for %s from %s", request.method, request.path, _caller(),
                                 request.remote_addr)
        return response
