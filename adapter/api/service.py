"""The service object one Flask app holds: settings, database, registry, stages, token pepper."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from adapter.fhir.registry import Registry
from adapter.settings import Settings
from adapter.store.clients import ClientInfo
from adapter.store.db import session_factory, transaction
from adapter.store.flow import Clock, Context, Stages, SystemClock

log = logging.getLogger(__name__)


@dataclass
class Service:
    """Everything the views need, built once in :func:`adapter.api.create_app`."""

    settings: Settings
    engine: Engine
    registry: Registry
    stages: Stages
    pepper: bytes
    clock: Clock = field(default_factory=SystemClock)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    def context(self, session: Session, client: ClientInfo, *, end_user: str | None) -> Context:
        return Context(session=session, settings=self.settings, registry=self.registry, client=client,
                       stages=self.stages, clock=self.clock, end_user=end_user,
                       base_url=self.settings.service.base_url.rstrip("/"))


def service() -> Service:
    svc: Service = current_app.extensions["lisn"]
    return svc


def token_pepper(settings: Settings) -> bytes:
    """The server secret tokens are keyed with: from the settings, else one kept in the data folder."""
    if settings.service.token_pepper:
        return settings.service.token_pepper.encode("utf-8")
    path = Path(settings.database.data_dir) / "token-pepper"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()  # another worker wrote it first
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode("ascii"))
        log.warning("generated a token pepper in %s; set ADAPTER_SERVICE_TOKEN_PEPPER in production", path)
    return path.read_bytes().strip()
