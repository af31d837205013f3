"""Accounts: users of every audience, company accounts (read copies of CRM accounts), invitations."""
