"""Sign in and out."""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length
from inventory.blueprints.pages.fields import TextField

from inventory import unit_of_work
from inventory.blueprints.pages.core import (
    PASSWORD_ENDPOINT,
    bp,
    flash_refusal,
    landing_endpoint,
    page,
    refused,
    remember_session_version,
)
from inventory.errors import Unauthorized
from inventory.extensions import db
from inventory.security import safe_redirect_target
from inventory.models import User, utcnow
from inventory.services import auth, throttle
from inventory.services.permissions import PUBLIC
from inventory.services.throttle import TooManyAttempts


class LoginForm(FlaskForm):
    username = TextField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None, user: User) -> str:
    # Only same-site paths (inventory/security.py): never an open redirect. Otherwise the role's start page.
    return safe_redirect_target(target) or url_for(landing_endpoint(user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        now = utcnow()
        try:
            user = throttle.sign_in(
                db.session, current_app.extensions["password_hasher"], username=form.username.data,
                password=form.password.data, address=request.remote_addr or "unknown", now=now, via="page",
            )
        except TooManyAttempts as error:
            refused(error)
            response = make_response(render_template("pages/login.html", form=form), 429)
            response.headers["Retry-After"] = str(error.retry_after)
            return response
        except Unauthorized as error:
            unit_of_work.keep_despite_refusal()  # the failure must count although the sign-in did not happen
            flash_refusal(error)
            return render_template("pages/login.html", form=form), 401
        session.clear()  # a fresh session on sign-in
        login_user(user)
        remember_session_version(user)
        if user.must_change_password and PASSWORD_ENDPOINT in current_app.view_functions:
            # The page asked for waits until the password is changed: the password page goes on to it.
            return redirect(url_for(PASSWORD_ENDPOINT, next=safe_redirect_target(request.args.get("next"))))
        return redirect(_safe_next(request.args.get("next"), user))
    return render_template("pages/login.html", form=form)


login.access = PUBLIC  # type: ignore[attr-defined]


@bp.post("/logout")
@page(None)
def logout():
    # Ended on the server, not only in this browser: a copied cookie of this user stops working too.
    auth.end_page_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("pages.login"))
