"""Shared checks for the tensor tests."""

from typing import Any, Callable

import pytest

from foldax.errors import FoldaxError


def _check_error(make: Callable[[], Any], builtin: type, message: str) -> None:
    """`make()` raises a foldax error that is also a `builtin` and says exactly `message`."""
    with pytest.raises(FoldaxError) as info:
        make()
    assert isinstance(info.value, builtin), type(info.value).__mro__
    assert str(info.value) == message


@pytest.fixture
def check_error() -> Callable[[Callable[[], Any], type, str], None]:
    """The check that an error has the right foldax type, builtin type and message."""
    return _check_error
