"""Admin tokens: issue and verify."""

from __future__ import annotations

import pytest
from storage_node import auth

SECRET = "s3cret-0123456789abcdef0123456789abcdef"


def test_token_roundtrip() -> None:
    assert auth.verify_token(SECRET, auth.issue_token(SECRET)) == "ferry-operator"
    auth.verify_header(SECRET, "Bearer " + auth.issue_token(SECRET, "x"))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic abc",
        "Bearer nope",
        "Bearer " + auth.issue_token("other-secret-0123456789abcdef0123456789"),
        "Bearer " + auth.issue_token(SECRET, ttl_s=-10),
    ],
)
def test_bad_tokens_rejected(header: str | None) -> None:
    with pytest.raises(auth.AuthError):
        auth.verify_header(SECRET, header)


def test_no_secret_means_no_auth() -> None:
    auth.verify_header(None, None)
