"""Repairs (RMA): requests with one or more units, their lifecycle, the staff desk."""
