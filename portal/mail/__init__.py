"""Outgoing e-mail: queued in the database with the change, delivered after commit."""
