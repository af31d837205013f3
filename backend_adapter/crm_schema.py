"""The core CRM store's schema, as fixed by the CRM team (shared/CRM_STORE.md).

Tables, key columns and vocabularies are theirs; we may add columns and indexes, never
rename or drop. For the embedded default `portal migrate` creates this schema itself.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    inspect,
    literal,
    text,
)
from sqlalchemy.sql.schema import ScalarElementColumnDefault

metadata = MetaData()


def _ts(name: str, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime, nullable=nullable)


def _pushed(name: str, *columns: Column[object]) -> Table:
    """A table the portal writes: external_id key, version, updated_at."""
    return Table(
        name,
        metadata,
        Column("external_id", String(36), primary_key=True),
        Column("version", Integer, nullable=False),
        *columns,
        _ts("updated_at", nullable=False),
    )


# -- Owned by the CRM: the portal pulls these ------------------------------------------
crm_account = Table(
    "crm_account",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("tier", String(20)),
    Column("country", String(2)),
    _ts("updated_at", nullable=False),
    Index("ix_crm_account_updated", "updated_at", "account_id"),
)

crm_product = Table(
    "crm_product",
    metadata,
    Column("sku", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(60), nullable=False),
    Column("warranty_months", Integer, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    _ts("updated_at", nullable=False),
    Index("ix_crm_product_updated", "updated_at", "sku"),
)

crm_order = Table(
    "crm_order",
    metadata,
    Column("order_number", String(40), primary_key=True),
    Column("account_id", String(40)),
    Column("customer_email", String(254)),
    Column("status", String(20), nullable=False),
    _ts("ordered_at", nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_cents", Integer, nullable=False),
    _ts("updated_at", nullable=False),
    Index("ix_crm_order_updated", "updated_at", "order_number"),
    Index("ix_crm_order_account", "account_id"),
    Index("ix_crm_order_email", "customer_email"),
)

crm_order_line = Table(
    "crm_order_line",
    metadata,
    Column("order_number", String(40), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(40), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
    _ts("updated_at"),
    PrimaryKeyConstraint("order_number", "line_no"),
)

crm_serial = Table(
    "crm_serial",
    metadata,
    Column("serial", String(60), primary_key=True),
    Column("sku", String(40), nullable=False),
    Column("order_number", String(40)),
    _ts("shipped_at"),
    Column("sold_to_account_id", String(40)),
    Column("warranty_starts_on", Date),
    _ts("updated_at", nullable=False),
    Index("ix_crm_serial_updated", "updated_at", "serial"),
    Index("ix_crm_serial_order", "order_number"),
)

crm_invoice = Table(
    "crm_invoice",
    metadata,
    Column("invoice_number", String(40), primary_key=True),
    Column("order_number", String(40)),
    Column("account_id", String(40)),
    Column("customer_email", String(254)),
    Column("amount_due_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(10), nullable=False),
    _ts("issued_at", nullable=False),
    Column("due_on", Date),
    _ts("updated_at", nullable=False),
    Index("ix_crm_invoice_updated", "updated_at", "invoice_number"),
)

crm_sales_target = Table(
    "crm_sales_target",
    metadata,
    Column("partner_account_id", String(40), nullable=False),
    Column("period", String(7), nullable=False),
    Column("sku", String(40), nullable=False),
    Column("target_units", Integer, nullable=False),
    Column("target_revenue_cents", Integer, nullable=False),
    _ts("updated_at"),
    PrimaryKeyConstraint("partner_account_id", "period", "sku"),
)

# -- Written by the portal: the adapter pushes these -------------------------------------
crm_contact = _pushed(
    "crm_contact",
    Column("account_id", String(40)),
    Column("email", String(254), nullable=False),
    Column("name", String(200)),
    Column("locale", String(10)),
    Column("role", String(20), nullable=False),
    _ts("created_at", nullable=False),
    # Added by the portal (allowed: new columns only): deactivated users stay as contacts.
    Column("active", Boolean, nullable=False, default=True),
)

crm_partner_application = _pushed(
    "crm_partner_application",
    Column("company", String(200), nullable=False),
    Column("country", String(2)),
    Column("contact_email", String(254), nullable=False),
    Column("status", String(12), nullable=False),
    _ts("created_at", nullable=False),
    # Added by the portal: the partner account an approval created.
    Column("account_id", String(40)),
)

crm_rma = _pushed(
    "crm_rma",
    Column("rma_number", String(30), nullable=False, unique=True),
    Column("account_id", String(40)),
    Column("contact_email", String(254)),
    Column("serial", String(60)),
    Column("sku", String(40)),
    Column("order_number", String(40)),
    Column("reason", Text),
    Column("warranty_status", String(20)),
    Column("status", String(30), nullable=False),
    _ts("created_at", nullable=False),
)
# The puller reads what changed in (updated_at, external_id) order (the repair centre's writes).
Index("ix_crm_rma_updated", crm_rma.c.updated_at, crm_rma.c.external_id)

crm_rma_event = _pushed(
    "crm_rma_event",
    Column("rma_number", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("note", Text),
    Column("source", String(10), nullable=False),
    _ts("occurred_at", nullable=False),
    # Added by the portal: an internal note is not shown to the customer. NULL (rows the CRM
    # wrote without it) means visible.
    Column("customer_visible", Boolean),
)
Index("ix_crm_rma_event_updated", crm_rma_event.c.updated_at, crm_rma_event.c.external_id)
Index("ix_crm_rma_event_rma", crm_rma_event.c.rma_number, crm_rma_event.c.occurred_at)

# The order of `crm_rma.status` (shared/CRM_STORE.md): a status never moves backwards, whichever
# side writes it. The same numbers as `portal.repairs.lifecycle.RANK` (a test holds them equal;
# the adapter imports no domain package). Side exits rank so they end a case: only `closed`
# beats `rejected` and `cancelled`.
RMA_STATUS_RANK: dict[str, int] = {
    "requested": 10,
    "approved": 20,
    "awaiting_unit": 30,
    "replacement_shipped": 35,
    "received": 40,
    "diagnosing": 50,
    "quote_sent": 60,
    "quote_accepted": 70,
    "quote_declined": 70,
    "repairing": 80,
    "repaired": 90,
    "replaced": 90,
    "shipped": 100,
    "delivered": 110,
    "rejected": 115,
    "cancelled": 115,
    "closed": 120,
}

crm_case = _pushed(
    "crm_case",
    Column("case_number", String(30), nullable=False),
    Column("account_id", String(40)),
    Column("contact_email", String(254)),
    Column("subject", String(300)),
    Column("status", String(20)),
    Column("priority", String(20)),
    _ts("created_at", nullable=False),
)

crm_case_message = _pushed(
    "crm_case_message",
    Column("case_external_id", String(36), nullable=False),
    Column("author_email", String(254)),
    Column("is_staff", Boolean, nullable=False, default=False),
    Column("body", Text),
    _ts("created_at", nullable=False),
)

crm_forum_post = _pushed(
    "crm_forum_post",
    Column("topic_external_id", String(36), nullable=False),
    Column("author_email", String(254)),
    Column("is_staff", Boolean, nullable=False, default=False),
    Column("is_accepted_answer", Boolean, nullable=False, default=False),
    _ts("created_at", nullable=False),
)

crm_inventory_line = _pushed(
    "crm_inventory_line",
    Column("partner_account_id", String(40), nullable=False),
    Column("report_external_id", String(36), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("location", String(100)),
    Column("sku", String(40), nullable=False),
    Column("quantity_on_hand", Integer, nullable=False),
    Column("withdrawn", Boolean, nullable=False, default=False),
)

crm_sell_through_line = _pushed(
    "crm_sell_through_line",
    Column("partner_account_id", String(40), nullable=False),
    Column("report_external_id", String(36), nullable=False),
    Column("sold_on", Date, nullable=False),
    Column("sku", String(40), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Integer),
    Column("currency", String(3)),
    Column("end_customer_name", String(200)),
    Column("end_customer_country", String(2)),
    Column("end_customer_postcode", String(20)),
    Column("serial", String(60)),
    Column("withdrawn", Boolean, nullable=False, default=False),
)

crm_payment = _pushed(
    "crm_payment",
    Column("kind", String(20), nullable=False),
    Column("reference", String(40), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_ref", String(100)),
    _ts("created_at", nullable=False),
)


def create_crm_schema(engine: Engine) -> None:
    """Create the CRM store's tables, and the columns and indexes we added, where missing
    (idempotent). An older store (a `var/crm.db` from before a column was added) gains the
    new columns with `ALTER TABLE … ADD COLUMN`: nullable ones as they are, NOT NULL ones only
    with a constant default (filled in for the existing rows)."""
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    conn.execute(text(_add_column_sql(table, column, conn.dialect)))
            indexes = {ix["name"] for ix in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    index.create(conn, checkfirst=False)


def _add_column_sql(table: Table, column: Column[object], dialect: Dialect) -> str:
    preparer = dialect.identifier_preparer
    sql = f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} {column.type.compile(dialect)}"
    if column.nullable:
        return sql
    default = column.default
    if not isinstance(default, ScalarElementColumnDefault):
        raise RuntimeError(f"{table.name}.{column.name} is missing and NOT NULL without a constant default: add it by hand")
    value = literal(default.arg, column.type).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return f"{sql} NOT NULL DEFAULT {value}"
