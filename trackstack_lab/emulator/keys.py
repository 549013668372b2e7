"""Throwaway keys for the emulator: an RSA private key (Salesforce's JWT bearer flow)
and a Google service-account key file, made fresh for each use (never real ones)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def private_key_pem() -> str:
    """A new 2048-bit RSA private key, PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def write_private_key(path: Path) -> Path:
    """An RSA private key PEM file at ``path``."""
    return _write(path.with_suffix(".pem"), private_key_pem())


GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def service_account_info(token_uri: str = GOOGLE_TOKEN_URI) -> dict[str, str]:
    """A Google service-account key (JSON key file contents) with a new private key."""
    return {
        "type": "service_account",
        "project_id": "trackstack-emulator",
        "private_key_id": "emulator",
        "private_key": private_key_pem(),
        "client_email": "trackstack@trackstack-emulator.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }


def write_service_account(
    path: Path, token_uri: str = "https://oauth2.googleapis.com/token"
) -> Path:
    """A service-account JSON key file at ``path`` (its ``token_uri`` as given)."""
    return _write(path.with_suffix(".json"), json.dumps(service_account_info(token_uri)))


KEY_FILES: dict[str, Callable[[Path], Path]] = {
    "private_key_env": write_private_key,
    "service_account_env": write_service_account,
}
"""Credential keys whose variable names a key file, and how to make a throwaway one."""
