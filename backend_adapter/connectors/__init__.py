"""CRM connectors: the same small interface over the SQL store and an HTTP API."""
