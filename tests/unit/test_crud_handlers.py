"""The standard operations bound in handlers/crud.py: what Connexion sees of them and what they answer."""

from __future__ import annotations

import inspect
import uuid
from types import SimpleNamespace

import pytest

from handlers import contacts as contact_handlers
from handlers import crud
from models.listing import PAGING


def test_a_list_takes_its_model_filters_and_the_shared_paging():
    parameters = inspect.signature(contact_handlers.list_contacts).parameters
    assert list(parameters) == ["caller", "q", "external_id", "archived", *PAGING]
    assert {name: parameters[name].default for name in PAGING} == PAGING


def test_each_operation_answers_as_the_api_says():
    caller = SimpleNamespace(administration_id="adm")
    row = SimpleNamespace(id=uuid.UUID(int=7), name="A")
    calls = []

    def create_thing(administration_id, body):
        calls.append(("create", administration_id, body))
        return row

    def delete_thing(administration_id, thing_id):
        calls.append(("delete", administration_id, thing_id))

    create, delete = crud.operations("things", lambda r: {"name": r.name},
                                     create=create_thing, delete=delete_thing)
    assert create(caller, {"name": "A"}) == (
        {"name": "A"}, 201, {"Location": f"/api/things/{uuid.UUID(int=7)}"})
    assert delete(caller, "x") == (None, 204)
    assert calls == [("create", "adm", {"name": "A"}), ("delete", "adm", "x")]
    assert create.__name__ == "create_thing"


def test_an_unknown_operation_is_refused():
    with pytest.raises(TypeError, match="not a standard operation: archive"):
        crud.operations("things", dict, archive=lambda administration_id, thing_id: None)
