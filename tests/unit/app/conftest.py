"""Fixtures for the web app's tests: files/app on sys.path and an app whose database
is down (a closed local port).

The app's runtime packages (files/app/requirements.txt) must be installed in the
interpreter running pytest. Without them the test_webapp_* modules are not
collected and test_app_requirements.py reports the skip with its reason.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from webapp_testing import CLOSED_PORT, MISSING_PING, PASSWORD_MARKER

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

APP_DIR = Path(__file__).resolve().parents[3] / "files" / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

RUNTIME_PACKAGES = ("flask", "gunicorn", "psycopg")
MISSING_PACKAGES = [name for name in RUNTIME_PACKAGES if importlib.util.find_spec(name) is None]
if MISSING_PACKAGES:
    collect_ignore_glob = ["test_webapp_*.py"]


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "db_app_password"
    path.write_text(PASSWORD_MARKER + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def db_down_config(password_file: Path) -> dict[str, Any]:
    """Settings of an app whose database is unreachable (connection refused)."""
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": CLOSED_PORT,
        "DB_PASSWORD_FILE": str(password_file),
        "PING_BINARY": MISSING_PING,
    }


@pytest.fixture
def app(db_down_config: dict[str, Any]) -> Iterator[Flask]:
    from webapp import create_app

    application = create_app(db_down_config)
    yield application
    application.extensions["dockhard.audit"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
