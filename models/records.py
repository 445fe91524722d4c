"""Plain records of an administration (contacts, products): how POST, PUT, PATCH and DELETE
write a row and its `<kind>.created|updated|deleted` event in the same transaction.

PUT gives every field the request's value or its default and always records the update;
PATCH writes only the values that differ and records an update only when one did; DELETE
records the row as it was. The resource's own rules (checks, clean-up of values) run in
its module before these are called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from models.db import TenantModel, changed_values, save_values
from models.events import record_event

Row = TypeVar("Row", bound=TenantModel)


@dataclass(frozen=True)
class Records:
    """The write side of one plain resource: its model, event kind and JSON shape."""

    model: type[TenantModel]
    #: The event types are `<kind>.created`, `<kind>.updated` and `<kind>.deleted`.
    kind: str
    fields: tuple[str, ...]
    defaults: dict[str, Any]
    serialize: Callable[[Any], dict]

    def full(self, data: dict) -> dict:
        """Every field: the given value or its default (POST and PUT)."""
        return {f: data.get(f, self.defaults.get(f)) for f in self.fields}

    def given(self, changes: dict) -> dict:
        """The fields a PATCH gives (anything else in it is not a field of the resource)."""
        return {f: v for f, v in changes.items() if f in self.fields}

    def create(self, administration_id, values: dict) -> Any:
        """A new row with these values, and its created event."""
        row = self.model.create(administration=administration_id, **values)
        record_event(administration_id, f"{self.kind}.created", self.serialize(row))
        return row

    def replace(self, administration_id, row: Row, values: dict) -> Row:
        """PUT: write every value and record the update."""
        save_values(row, values)
        record_event(administration_id, f"{self.kind}.updated", self.serialize(row))
        return row

    def update(self, administration_id, row: Row, values: dict) -> Row:
        """PATCH: write the values that differ; an updated event only when one did."""
        changed = changed_values(row, values)
        if changed:
            save_values(row, changed)
            record_event(administration_id, f"{self.kind}.updated", self.serialize(row))
        return row

    def delete(self, administration_id, row: TenantModel) -> None:
        """Delete the row; its deleted event carries the row as it was."""
        data = self.serialize(row)
        row.delete_instance()
        record_event(administration_id, f"{self.kind}.deleted", data)
