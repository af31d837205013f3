"""`alembic check` against a scratch SQLite database migrated to head."""

from __future__ import annotations

import tempfile
from pathlib import Path

from portal.db import make_engine
from portal.migrate import check_portal, upgrade_portal


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'check.db'}")
        upgrade_portal(engine)
        check_portal(engine)
        engine.dispose()
    print("Models and migrations agree.")


if __name__ == "__main__":
    main()
