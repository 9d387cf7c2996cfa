"""The real clients and the shared fakes offer every call of their Protocol, with the same parameters."""

from __future__ import annotations

import inspect

import pytest
from storage_operator.clients import protocols
from storage_operator.clients.kube import LightKube
from storage_operator.clients.nodes import HttpFleet
from storage_operator.model import clock

from tests.unit.operator.fakes import FakeFleet, FakeKube, FixedClock


def calls(protocol: type) -> dict[str, inspect.Signature]:
    """The methods a Protocol declares (its own and its bases'), by name."""
    return {
        name: inspect.signature(member)
        for cls in protocol.__mro__
        if cls.__module__ == protocol.__module__
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [
        (protocols.Kube, [LightKube, FakeKube]),
        (protocols.Fleet, [HttpFleet, FakeFleet]),
        (clock.Clock, [clock.SystemClock, FixedClock]),
    ],
)
def test_the_real_client_and_its_fake_offer_every_call_with_the_same_parameters(
    protocol: type, implementations: list[type]
) -> None:
    wanted = calls(protocol)
    assert wanted, "the Protocol declares its calls"
    for impl in implementations:
        for name, signature in wanted.items():
            method = getattr(impl, name, None)
            assert method is not None, f"{impl.__name__} lacks {name}"
            assert inspect.signature(method).parameters.keys() == signature.parameters.keys(), (impl, name)
            assert inspect.iscoroutinefunction(method) == inspect.iscoroutinefunction(getattr(protocol, name))
