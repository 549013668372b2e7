"""Text patterns shared by the SQL and polars sides of validation (RE2 syntax)."""

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
"""A plausible email: name@domain.tld, no spaces."""

SHA256_HEX_PATTERN = r"^[0-9a-fA-F]{64}$"
"""An identifier that was already hashed with SHA-256 (hex)."""
