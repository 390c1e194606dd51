"""The use cases' service that one Flask app holds, and how a view runs a use case."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app

from adapter.flows import context
from adapter.flows.context import Context, Service

T = TypeVar("T")


def service() -> Service:
    svc: Service = current_app.extensions["lisn"]
    return svc


def run(step: Callable[[Context], T]) -> T:
    """``step(ctx)`` as the request's client (and end user), in a transaction of its own."""
    from adapter.api.auth import current_client, end_user

    return context.run(service(), current_client(), step, end_user=end_user())
