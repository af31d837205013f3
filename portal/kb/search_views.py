"""(search pages arrive with the knowledge-base search work)"""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
