"""Bucket and object name validation."""

from __future__ import annotations

import pytest
from storage_node import names


@pytest.mark.parametrize("name", ["a", "dir/sub/file.txt", "ünïcødé/日本語", "a b", "x" * 1024, "..a", "a..", "%2e"])
def test_valid_object_names(name: str) -> None:
    assert names.check_object(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        "../x",
        "a/../b",
        "a/..",
        "/abs",
        "a//b",
        "a/",
        "./a",
        "a\x00b",
        "a\nb",
        "a\\b",
        "x" * 1025,
        "é" * 600,
    ],
)
def test_escaping_or_bad_object_names(name: str) -> None:
    with pytest.raises(names.InvalidName):
        names.check_object(name)


@pytest.mark.parametrize("bucket", ["b", "my-bucket", "B.1_x", "a" * 63])
def test_valid_buckets(bucket: str) -> None:
    assert names.check_bucket(bucket) == bucket


@pytest.mark.parametrize("bucket", ["", ".", "..", ".hidden", "a/b", "a..b", "a" * 64, "-x", "a b", "ü"])
def test_bad_buckets(bucket: str) -> None:
    with pytest.raises(names.InvalidName):
        names.check_bucket(bucket)
