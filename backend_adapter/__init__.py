"""Backend adapter: moves data between the portal database and the core CRM store."""
