"""Shared pieces of the Vertex adapter tests (no tests here): a test-generated service account."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

EMAIL = "adapter-test@reelforge-tests.iam.gserviceaccount.com"
PROJECT = "reelforge-tests"
LOCATION = "us-central1"
MODEL = "veo-3.1-fast-generate-001"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@functools.cache
def private_pem() -> str:
    """A test-generated RSA key (once per test process)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_pem() -> str:
    key = serialization.load_pem_private_key(private_pem().encode("ascii"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def vertex_config(**fields: Any) -> dict[str, Any]:
    """The ``vertex:`` section trusting the test account."""
    return {"service_accounts": {EMAIL: public_pem()}, **fields}


def credentials(token_uri: str, *, scopes: list[str] | None = None) -> Any:
    """Service-account credentials of the test key, asking ``token_uri`` for tokens."""
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "test-key",
        "private_key": private_pem(),
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": token_uri,
    }
    return service_account.Credentials.from_service_account_info(
        info, scopes=[SCOPE] if scopes is None else scopes
    )
