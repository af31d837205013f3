"""Structured logs (structlog): JSON lines in production, readable lines under PORTAL_DEBUG."""

from __future__ import annotations

import logging

import structlog


def configure_logging(*, debug: bool = False) -> None:
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    renderer: structlog.types.Processor = structlog.dev.ConsoleRenderer(colors=False) if debug else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
