"""Authorization matrix entries for the knowledge-base routes (merged into matrix.MATRIX)."""

from __future__ import annotations

from tests.portal.security.matrix import Case

ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {}
