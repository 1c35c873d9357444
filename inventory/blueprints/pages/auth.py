"""Sign in and out."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from inventory.blueprints.pages.core import bp, page
from inventory.errors import Unauthorized
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services import auth
from inventory.services.permissions import PUBLIC


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = auth.authenticate(
                db.session, current_app.extensions["password_hasher"], form.username.data, form.password.data
            )
        except Unauthorized as error:
            flash(error.message, "error")
            return render_template("pages/login.html", form=form), 401
        user.last_login_at = utcnow()
        db.session.commit()
        session.clear()  # a fresh session on sign-in
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("pages/login.html", form=form)


login.access = PUBLIC  # type: ignore[attr-defined]


@bp.post("/logout")
@page(None)
def logout():
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("pages.login"))
