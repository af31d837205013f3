"""(routes added by the issue-4 work in progress)"""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
