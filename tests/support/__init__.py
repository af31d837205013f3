"""Test support: a throwaway PostgreSQL cluster, a live server, a local SMTP server, fakes."""
