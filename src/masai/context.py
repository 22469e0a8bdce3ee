"""MASAI's ``masai.context``: request-scoped user, request and tenant ids (ContextVars)."""

from .longterm._user import (
    clear_context,
    get_request_id,
    get_tenant_id,
    get_user_id,
    request_context,
    set_request_id,
    set_tenant_id,
    set_user_id,
)

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
