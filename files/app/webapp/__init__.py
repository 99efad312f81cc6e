"""dockhard hardened web app."""

from webapp.factory import create_app

__all__ = ["create_app"]
