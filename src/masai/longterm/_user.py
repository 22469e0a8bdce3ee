"""Who a request is for: ``user_id``, ``request_id`` and ``tenant_id`` as context variables.

Set once where a request enters (middleware, handler) and read anywhere below it: every
``await`` and every task started from there sees the values, and concurrent requests never
see each other's (each has its own context). The memory tool takes its user from here, so a
model can never choose whose memories it reads while a user is set.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

__all__ = (
    "clear_context",
    "get_request_id",
    "get_tenant_id",
    "get_user_id",
    "request_context",
    "set_request_id",
    "set_tenant_id",
    "set_user_id",
)

user_id_var: ContextVar[str | None] = ContextVar("masai_user_id", default=None)
request_id_var: ContextVar[str | None] = ContextVar("masai_request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("masai_tenant_id", default=None)


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def set_user_id(user_id: str | int | None) -> None:
    """Set the current user for this context (``None`` clears it)."""
    user_id_var.set(_text(user_id))


def get_user_id() -> str | None:
    return user_id_var.get()


def set_request_id(request_id: str | None) -> None:
    request_id_var.set(_text(request_id))


def get_request_id() -> str | None:
    return request_id_var.get()


def set_tenant_id(tenant_id: str | None) -> None:
    tenant_id_var.set(_text(tenant_id))


def get_tenant_id() -> str | None:
    return tenant_id_var.get()


def clear_context() -> None:
    """Unset all three in this context."""
    user_id_var.set(None)
    request_id_var.set(None)
    tenant_id_var.set(None)


class request_context:
    """Set the given values for a block and restore the previous ones after it, even on
    error: ``with request_context(user_id="u1"): ...`` or ``async with ...`` (MASAI's form).
    """

    def __init__(
        self,
        user_id: str | int | None = None,
        request_id: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self._values = (
            (user_id_var, _text(user_id)),
            (request_id_var, request_id),
            (tenant_id_var, tenant_id),
        )
        self._tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []

    def __enter__(self) -> None:
        self._tokens = [(var, var.set(v)) for var, v in self._values if v is not None]

    def __exit__(self, *exc_info: object) -> None:
        for var, token in reversed(self._tokens):
            var.reset(token)
        self._tokens = []

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)
