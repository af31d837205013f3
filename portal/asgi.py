"""ASGI entry point for uvicorn: `portal.asgi:app` (settings from the environment)."""

from portal.app import create_app

app = create_app()
