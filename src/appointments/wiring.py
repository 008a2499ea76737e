"""How entry points hold their dependencies: built from the environment on first use, or handed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """One dependency of a handler module. Building it lazily keeps imports free of AWS calls;
    ``use`` lets tests and the local stack hand in their own, without patching module globals."""

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._value: T | None = None

    def __call__(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def use(self, value: T) -> None:
        self._value = value
