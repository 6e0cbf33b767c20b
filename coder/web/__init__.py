"""The web app (Flask): the factory ``create_app`` (``app``), the request's database session (``database``), the
guards every view stands behind (``guards``), error handlers, response headers, template filters, and the pages,
one blueprint per kind of page (``views``)."""
from coder.web.app import create_app

__all__ = ["create_app"]
