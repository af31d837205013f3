"""Authorization matrix entries for the customer routes (merged into matrix.MATRIX)."""

from __future__ import annotations

from tests.portal.security.matrix import (
    COLLEAGUE_A,
    CONSUMER,
    CUSTOMER_A,
    CUSTOMER_B,
    NOBODY,
    PUBLIC,
    STAFF_ROLES,
    Case,
    Obj,
    only,
)
from tests.portal.security.world_customer import KNOWN_SERIAL

CUSTOMERS = (CUSTOMER_A, CUSTOMER_B, COLLEAGUE_A, CONSUMER)
ORDERS = {
    "order:C-A": only(CUSTOMER_A, COLLEAGUE_A),
    "order:C-B": only(CUSTOMER_B),
    "order:consumer": only(CONSUMER),
    "missing": NOBODY,
}
REGISTRATIONS = ("registration:C-A", "registration:C-B", "registration:consumer")


def _staff_objects(path_param: str, result: str = "ok", **form: str) -> tuple[Case, ...]:
    """Registrations of every tenant: staff only; a missing one is 404 for everybody."""
    cases = [
        Case(expect=only(*STAFF_ROLES, result=result), params={path_param: Obj(name)}, label=name, form=form) for name in REGISTRATIONS
    ]
    return (*cases, Case(expect=NOBODY, params={path_param: Obj("missing")}, label="missing", form=form))


ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    # -- orders: the account's (colleagues share them), or the consumer's by verified e-mail ----------
    ("/orders", "GET"): (Case(only(*CUSTOMERS)), Case(only(*CUSTOMERS), query="status=delivered&q=SO-W&page=1", label="filtered")),
    ("/orders/{order_number}", "GET"): tuple(
        Case(expect=expect, params={"order_number": Obj(kind)}, label=kind) for kind, expect in ORDERS.items()
    ),
    # -- my products and registering a unit bought from a reseller ------------------------------------
    ("/products", "GET"): (Case(only(*CUSTOMERS)),),
    ("/products/register", "GET"): (Case(only(*CUSTOMERS), query=f"serial={KNOWN_SERIAL}"),),
    ("/products/register", "POST"): (
        Case(only(*CUSTOMERS, result="invalid"), form={"serial": ""}, label="empty"),
        # C-A's own unit ("already in your products") and everyone else's ("we do not know it").
        Case(only(*CUSTOMERS, result="invalid"), form={"serial": KNOWN_SERIAL, "purchase_date": "2020-01-01"}, label="owned unit"),
    ),
    # -- the public warranty check (no personal data, rate-limited per address) -----------------------
    ("/warranty", "GET"): (
        Case(PUBLIC),
        Case(PUBLIC, query=f"serial={KNOWN_SERIAL}", label="known serial"),
        Case(PUBLIC, query="serial=NO-SUCH-UNIT", label="unknown serial"),
    ),
    # -- staff decide registrations -------------------------------------------------------------------
    ("/staff/registrations", "GET"): (Case(only(*STAFF_ROLES)), Case(only(*STAFF_ROLES), query="status=pending&page=1", label="pending")),
    ("/staff/registrations/{registration_id}", "GET"): _staff_objects("registration_id"),
    ("/staff/registrations/{registration_id}", "POST"): _staff_objects("registration_id", result="invalid", decision="maybe"),
    ("/staff/registrations/{registration_id}/proof", "GET"): _staff_objects("registration_id"),
}
