"""Security: sessions, CSRF, passwords, headers, rate limits, audit, TOTP."""
