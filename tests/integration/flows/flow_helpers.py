"""A service on any store (``store`` fixture: memory, SQLite, PostgreSQL), with the real stages.

Signing passes the bytes through: signatures are the signing stage's business and have their
own tests; here the flows decide what is signed and queued.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from stores import PEPPER, register

from adapter.fhir.registry import Registry, default_registry
from adapter.flows import context
from adapter.flows.context import Context, Service, Stages
from adapter.flows.ports import ClientInfo, Match, RecipientRecord, Store
from adapter.outbound import render_municipal_xml
from adapter.settings import Settings
from adapter.testing import FixedClock
from adapter.validation import validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "profiles" / "examples"
CONSENT = ROOT / "tests" / "integration" / "service" / "data" / "consent-0180.json"
T = TypeVar("T")

CLIENTS = [
    {"name": "ehr", "role": "sender", "care_units": ["SE2321000016-15CQ"]},
    {"name": "other-ehr", "role": "sender", "care_units": ["SE2321000016-9ZZZ"]},
    {"name": "stockholm", "role": "municipality", "kommunkod": "0180"},
    {"name": "goteborg", "role": "municipality", "kommunkod": "1480"},
    {"name": "admin", "role": "admin"},
]


@functools.cache
def registry() -> Registry:
    return default_registry()


def stages(sign: Callable[[bytes], bytes] = lambda xml: xml) -> Stages:
    return Stages(validate=validate, map_export=lambda raw, fmt, inputs: {}, render=render_municipal_xml, sign=sign)


@dataclass
class World:
    """The service, its clock and its clients, on one store."""

    service: Service
    clock: FixedClock
    clients: dict[str, ClientInfo]

    @property
    def store(self) -> Store:
        return self.service.store

    def run(self, who: str, step: Callable[[Context], T]) -> T:
        return context.run(self.service, self.clients[who], step)

    def tx(self) -> Any:
        return self.store.transaction()


def world(store: Store, *, mode_0180: str = "push", sign: Callable[[bytes], bytes] = lambda xml: xml) -> World:
    recipients = [RecipientRecord("0180", "Socialnämnden i Stockholms stad", mode=mode_0180,
                                  endpoint="https://stockholm.example/inbox" if mode_0180 == "push" else None),
                  RecipientRecord("1480", "Socialnämnden i Göteborgs stad", mode="pull")]
    found = register(store, recipients=recipients, clients=CLIENTS)
    clock = FixedClock()
    service = Service(settings=Settings(), store=store, registry=registry(), stages=stages(sign), clock=clock,
                      pepper=PEPPER)
    return World(service, clock, {name: client for name, (client, _) in found.items()})


def example(name: str = "submission", *, consent: bool = True) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((EXAMPLES / f"Bundle-lisn-example-{name}.json").read_text("utf-8"))
    if not consent:
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Consent"]
    return bundle


def raw(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource).encode("utf-8")


def consent(**period: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(CONSENT.read_text("utf-8"))
    found["provision"].setdefault("period", {}).update(period)
    return found


def outbox(w: World, **match: Any) -> list[tuple[str, str, str]]:
    """(kind, kommunkod, state) of the outbox messages that match."""
    with w.tx() as tx:
        return [(m.kind, m.kommunkod, m.state) for m in tx.messages(Match(**match))]


def with_kommunkod(bundle: dict[str, Any], kommunkod: str) -> dict[str, Any]:
    """A copy of ``bundle`` addressed to the socialnämnd of ``kommunkod``."""
    changed = copy.deepcopy(bundle)
    for entry in changed["entry"]:
        res = entry["resource"]
        if res.get("id") == "lisn-example-socialnamnd":
            res["identifier"][0]["value"] = kommunkod
        if res["resourceType"] == "MessageHeader":
            res["destination"][0]["endpoint"] = f"urn:lisn:kommunkod:{kommunkod}"
    return changed


def task_of(receipt: dict[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = receipt["entry"][1]["resource"]
    return task


def status(task: dict[str, Any]) -> str:
    return str(task["businessStatus"]["coding"][0]["code"])
