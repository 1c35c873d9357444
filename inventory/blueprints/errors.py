"""One error shape for the API, friendly pages for people."""

from __future__ import annotations

import logging

from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, make_response, render_template, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, NotFound

from inventory.errors import DomainError
from inventory.security import safe_redirect_target

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
    431: "headers_too_large",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, details: dict | None = None) -> Response:
    """The one error shape of API.md, ``{"error": {"code", "message", "details"}}``: ``details`` always, an
    empty object when there is nothing more to say, so a client reads ``error.details.x`` without a test."""
    body: dict = {"code": code, "message": message, "details": details or {}}
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _failure_page(status: int, message: str) -> tuple[str, int]:
    """The page for a request that failed and saved nothing (its unit of work rolled back)."""
    # The view may have flashed its success before the commit failed: drop Flask's queued flashes,
    # or "Recorded ..." would show on this page or the next.
    session.pop("_flashes", None)
    return render_template("error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        if wants_json():
            return json_error(error.status, error.code, error.message, error.details)
        return render_template("error.html", status=error.status, message=error.message), error.status

    @app.errorhandler(CSRFError)
    def _form_of_another_session(error: CSRFError):
        """A page's form whose token this session did not give (signed out or in again since, in another tab or by
        someone else at this computer): said in words, nothing saved, with the way back to the page."""
        referrer = urlsplit(request.referrer or "")
        back = safe_redirect_target(referrer.path + (f"?{referrer.query}" if referrer.query else "")) \
            if referrer.netloc == request.host else None
        message = ("This form comes from a page opened before a sign-in or sign-out on this computer. Nothing was "
                   "saved: open the page again and repeat what you did.")
        if wants_json():
            return json_error(400, HTTP_CODES[400], message)
        return render_template("error.html", status=400, message=message, back=back), 400

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        description = error.description
        if isinstance(error, NotFound) and description == NotFound.description:
            # Werkzeug's own sentence speaks of servers and URLs: an address no route answers (a typo, an id
            # that is not a whole number) is said in Vialog's words.
            description = (
                "Nothing in the Vialog API answers at this address: check the path, and that ids are whole numbers."
                if wants_json() else "There is no page at this address. Check the link, or start again from the menu.")
        if wants_json():
            if status == 400 and "CSRF" not in (error.description or ""):
                response = json_error(400, "malformed_json", "The request body is not valid JSON.")
            elif status == 413:
                limit = request.max_content_length
                response = json_error(413, "payload_too_large", f"The request body is larger than {limit} bytes.",
                                      {"max_bytes": limit})
            else:
                response = json_error(status, HTTP_CODES.get(status, "http_error"), description or error.name)
        else:
            response = make_response(render_template("error.html", status=status, message=description), status)
        # The exception's own headers (a 405's Allow, a 401's WWW-Authenticate), never its content type.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        if not error.connection_invalidated:
            return _unexpected(error)
        # The server dropped the connection (a restart or failover): the transaction never committed,
        # and SQLAlchemy has already discarded the worker's stale connections, so a retry works.
        log.warning("database connection lost on %s %s", request.method, request.path)
        message = "The connection to the database was lost; nothing was saved. Try again."
        if wants_json():
            return json_error(503, "database_unavailable", message)
        return _failure_page(503, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        message = "Something went wrong on the server; nothing was changed. Try again or tell your admin."
        if wants_json():
            return json_error(500, "internal_error", message)
        return _failure_page(500, message)
