"""Run the relay and the puller: once (drain both), or until stopped (SIGTERM / lifespan end)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import structlog

from backend_adapter.connectors import connector_for
from backend_adapter.connectors.base import CrmConnector, CrmUnavailable
from backend_adapter.puller import Puller
from backend_adapter.relay import Relay, RelayConfig, RelayStats
from portal.db import Database
from portal.events.pull import PullContext
from portal.events.status import sync_status
from portal.mail.service import Mailing
from portal.metrics import refresh_sync_gauges

log = structlog.get_logger(__name__)


@dataclass
class Adapter:
    relay: Relay
    puller: Puller
    db: Database

    @classmethod
    def for_urls(cls, portal_url: str, crm_url: str, *, config: RelayConfig | None = None, mailing: Mailing | None = None) -> Adapter:
        db = Database(portal_url)
        return cls.build(db, connector_for(crm_url), config=config, mailing=mailing)

    @classmethod
    def build(cls, db: Database, connector: CrmConnector, *, config: RelayConfig | None = None, mailing: Mailing | None = None) -> Adapter:
        """`mailing`: tell customers of changes pulled from the CRM (a repair moved on)."""
        puller = Puller(db, connector, context=PullContext(mailing=mailing))
        return cls(relay=Relay(db, connector, config=config), puller=puller, db=db)

    def run_once(self) -> tuple[RelayStats, dict[str, int]]:
        pushed = self.relay.drain()
        try:
            pulled = self.puller.pull_once()
        except CrmUnavailable as exc:
            log.warning("adapter.pull_unavailable", error=str(exc))
            pulled = {}
        self.refresh_gauges()
        return pushed, pulled

    def refresh_gauges(self) -> None:
        with self.db.unit_of_work(write=False) as session:
            status = sync_status(session)
        refresh_sync_gauges(status)

    def run_forever(self, stop: threading.Event, *, pull_every_s: float = 5.0) -> None:
        """Push continuously; pull every `pull_every_s`. Returns when `stop` is set."""
        pull_thread = threading.Thread(target=self._pull_loop, args=(stop, pull_every_s), name="adapter-pull", daemon=True)
        pull_thread.start()
        self.relay.run_forever(stop, on_cycle=lambda _stats: None)
        pull_thread.join(timeout=10)

    def _pull_loop(self, stop: threading.Event, every_s: float) -> None:
        while not stop.is_set():
            try:
                self.puller.pull_once()
                self.refresh_gauges()
            except CrmUnavailable as exc:
                log.warning("adapter.pull_unavailable", error=str(exc))
            except Exception:
                log.exception("adapter.pull_failed")
            stop.wait(every_s)

    def close(self) -> None:
        self.relay.connector.close()
        self.db.dispose()
