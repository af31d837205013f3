"""CRM connectors: the same small interface over the SQL store and an HTTP API."""

from __future__ import annotations

import os

from backend_adapter.connectors.base import CrmConnector
from backend_adapter.connectors.http import HttpConnector
from backend_adapter.connectors.sql import SqlConnector
from portal.db import make_engine


def connector_for(url: str, *, token: str | None = None) -> CrmConnector:
    """The connector `CRM_DATABASE_URL` asks for: an `http(s)://` URL is the CRM's HTTP API
    (bearer token from `token`, else the `CRM_API_TOKEN` environment variable); anything else
    is a SQLAlchemy URL of the SQL store.

    Raises ValueError for an HTTP URL without a token.
    """
    if url.lower().startswith(("http://", "https://")):
        api_token = token if token is not None else os.environ.get("CRM_API_TOKEN", "")
        if not api_token:
            raise ValueError("CRM_DATABASE_URL points at an HTTP API but CRM_API_TOKEN is not set")
        return HttpConnector(url, api_token)
    return SqlConnector(make_engine(url))


__all__ = ["CrmConnector", "HttpConnector", "SqlConnector", "connector_for"]
