"""Authorization matrix entries for the repairs routes (merged into matrix.MATRIX).

Customers see their own RMAs (colleagues share their company account's); everyone else,
partners and staff included, gets 404 (the staff desk has its own URLs). The repair-status
lookup is public.
"""

from __future__ import annotations

from tests.portal.security.matrix import (
    COLLEAGUE_A,
    CONSUMER,
    CUSTOMER_A,
    CUSTOMER_B,
    NOBODY,
    PUBLIC,
    Case,
    Obj,
    only,
    outcomes,
)

CUSTOMERS = (CUSTOMER_A, CUSTOMER_B, COLLEAGUE_A, CONSUMER)
OWNERS = {"C-A": (CUSTOMER_A, COLLEAGUE_A), "C-B": (CUSTOMER_B,), "consumer": (CONSUMER,)}


def _per_rma(*, extra_params: dict[str, str] | None = None, form: dict[str, str] | None = None) -> tuple[Case, ...]:
    """One case per tenant's RMA (only its owners reach it) and one for a number nobody has."""
    cases = []
    for tenant, owners in OWNERS.items():
        params: dict[str, Obj | str] = {"number": Obj(f"rma:{tenant}")}
        for name, kind in (extra_params or {}).items():
            params[name] = Obj(f"{kind}:{tenant}")
        cases.append(Case(expect=only(*owners), params=params, form=form or {}, label=f"rma:{tenant}"))
    missing: dict[str, Obj | str] = {"number": "RMA-ZZZZZZ", **dict.fromkeys(extra_params or {}, "1")}
    cases.append(Case(expect=NOBODY, params=missing, form=form or {}, label="missing"))
    return tuple(cases)


ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    ("/repairs", "GET"): (Case(only(*CUSTOMERS)), Case(only(*CUSTOMERS), query="state=closed&page=2", label="filtered")),
    ("/repairs/new", "GET"): (Case(only(*CUSTOMERS), query="serial=WR-C-A-1&order=O-NOT-MINE"),),
    ("/repairs/new", "POST"): (Case(only(*CUSTOMERS, result="invalid"), form={"more_serials": "WR-C-B-1"}),),
    ("/repairs/{number}", "GET"): _per_rma(),
    ("/repairs/{number}/label", "GET"): _per_rma(),
    ("/repairs/{number}/photos/{photo_id}", "GET"): (
        *_per_rma(extra_params={"photo_id": "photo"}),
        # Another tenant's photo under one's own RMA number is not found either.
        Case(expect=NOBODY, params={"number": Obj("rma:C-A"), "photo_id": Obj("photo:C-B")}, label="foreign photo"),
    ),
    # The unit waits for approval: owners are told there is no quote to answer (and sent back).
    ("/repairs/{number}/units/{unit_number}/quote", "POST"): _per_rma(extra_params={"unit_number": "unit"}, form={"decision": "accept"}),
    ("/repairs/{number}/cancel", "POST"): _per_rma(),
    ("/repair-status", "GET"): (Case(PUBLIC),),
    ("/repair-status", "POST"): (Case(PUBLIC, form={"number": "RMA-AAAA22", "email": "wrong@example.com"}),),
    # A forged link: a friendly 400 page with the lookup form, for everyone.
    ("/repair-status/{token}", "GET"): (Case(outcomes("invalid"), params={"token": "forged.token"}),),
}
