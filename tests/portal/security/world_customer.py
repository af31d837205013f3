"""Records of the test world for the customer routes (called by conftest.build_world).

Each customer tenant (C-A, C-B, the consumer dee@home.example) has an order with a shipped
unit and an invoice, and a pending unit registration of a reseller-sold unit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.customer.models import Invoice, Order, OrderLine, Product, RegistrationStatus, Serial, UnitRegistration

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

# tenant -> (order number, account, e-mail of a consumer order, shipped serial, reseller serial, user role)
TENANTS = {
    "C-A": ("SO-WA-1", "C-A", None, "NWA0001", "NWA0901", "customer_a"),
    "C-B": ("SO-WB-1", "C-B", None, "NWB0001", "NWB0901", "customer_b"),
    "consumer": ("SO-WC-1", None, "dee@home.example", "NWC0001", "NWC0901", "consumer"),
}
KNOWN_SERIAL = "NWA0001"  # shipped on C-A's order
PDF = b"%PDF-1.4\n% test proof\n"


def add(db: Session, world: World, now: datetime) -> None:
    """Add records and name them in world.ids (e.g. "order:C-A")."""
    db.add(Product(sku="NW-WX-1", name="Weather station", category="sensors", warranty_months=24, active=True, updated_at=now))
    for tenant, (number, account_id, email, shipped, resold, role) in TENANTS.items():
        ordered = now - timedelta(days=40)
        db.add(
            Order(
                order_number=number,
                account_id=account_id,
                customer_email=email,
                status="delivered",
                ordered_at=ordered,
                currency="GBP",
                total_cents=12900,
                updated_at=now,
            )
        )
        db.add(OrderLine(order_number=number, line_no=1, sku="NW-WX-1", quantity=1, unit_price_cents=12900, updated_at=now))
        db.add(
            Serial(
                serial=shipped, sku="NW-WX-1", order_number=number, shipped_at=ordered, warranty_starts_on=ordered.date(), updated_at=now
            )
        )
        db.add(Serial(serial=resold, sku="NW-WX-1", order_number=None, shipped_at=ordered, sold_to_account_id="P-X", updated_at=now))
        db.add(
            Invoice(
                invoice_number=f"INV-{number}",
                order_number=number,
                account_id=account_id,
                customer_email=email,
                amount_due_cents=12900,
                currency="GBP",
                status="paid",
                issued_at=ordered,
                due_on=None,
                updated_at=now,
            )
        )
        registration = UnitRegistration(
            user_id=world.user_id(role),
            account_id=account_id,
            serial=resold,
            purchase_date=ordered.date() + timedelta(days=5),
            reseller="High Street Electronics",
            proof_filename="receipt.pdf",
            proof_content_type="application/pdf",
            proof_data=PDF,
            status=RegistrationStatus.PENDING,
            decision_note="",
            created_at=now,
        )
        db.add(registration)
        db.flush()
        world.ids[f"order:{tenant}"] = number
        world.ids[f"registration:{tenant}"] = registration.id
