"""Settings from the environment."""

from __future__ import annotations

from inventory import config


def test_the_default_database_gets_its_instance_folder_even_with_a_secret_key(tmp_path, monkeypatch):
    instance = tmp_path / "new" / "instance"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    settings = config.from_environment(instance)
    assert instance.is_dir()
    assert settings["DATABASE_URL"] == f"sqlite:///{instance / 'vialog.db'}"
    assert not (instance / "secret_key").exists()  # the key came from the environment


def test_a_database_url_from_the_environment_needs_no_instance_folder(tmp_path, monkeypatch):
    instance = tmp_path / "unused"
    monkeypatch.setenv("DATABASE_URL", "postgres://vialog@db.example/vialog")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    settings = config.from_environment(instance)
    assert settings["DATABASE_URL"] == "postgresql+psycopg://vialog@db.example/vialog"
    assert not instance.exists()
