from __future__ import annotations

from typing import Any

import pytest

from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.relay import Relay, RelayConfig
from backend_adapter.runner import Adapter


@pytest.fixture
def connector(state: Any) -> SqlConnector:
    # Shares the test's CRM engine (disposed by the `state` fixture).
    return SqlConnector(state.crm_engine, max_batch=50)


@pytest.fixture
def relay(state: Any, connector: SqlConnector) -> Relay:
    return Relay(state.db, connector, config=RelayConfig(batch_size=100, base_backoff_s=0.0, max_backoff_s=0.0))


@pytest.fixture
def adapter(state: Any, connector: SqlConnector) -> Adapter:
    return Adapter.build(state.db, connector, config=RelayConfig(base_backoff_s=0.0, max_backoff_s=0.0))
