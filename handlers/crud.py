"""The standard operations of a resource, each one model function and its serializer.

A resource's list, create, get, replace (PUT), update (PATCH) and delete answer alike
whatever the resource: the model function gets the caller's administration and the
validated input; the result is serialised; a create answers 201 with a `Location`, a
delete 204, a list the list envelope. A handlers module names its standard operations
(function name == operationId) with `operations()` and writes only the others by hand:

    list_products, get_product = crud.operations(
        "products", serialize.product, list=products.list_products, get=products.get_product)
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

from models import serialize
from models.listing import PAGING
from paydock.responses import location


def _late(function: Callable) -> Callable:
    """`function`, looked up on its module at each call as `module.function(...)` in a
    hand-written handler would be, so that whatever the module holds then is what runs
    (model functions and serializers alike)."""
    module, name = sys.modules.get(function.__module__), function.__name__
    if getattr(module, name, None) is not function:
        return function     # not a module-level function: nothing to look up

    def call(*args, **kwargs):
        return getattr(module, name)(*args, **kwargs)
    return call


def _lister(list_rows: Callable, page: Callable) -> Callable:
    """GET /things: the list's query parameters are the model function's keyword arguments,
    its `**paging` the paging parameters every list takes (models.listing.PAGING)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("caller", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for parameter in list(inspect.signature(list_rows).parameters.values())[1:]:
        if parameter.kind == inspect.Parameter.VAR_KEYWORD:
            parameters += [inspect.Parameter(name, keyword, default=default)
                           for name, default in PAGING.items()]
        else:
            parameters.append(parameter.replace(kind=keyword))
    list_rows = _late(list_rows)

    def handler(caller, **query):
        return page(list_rows(caller.administration_id, **query))

    handler.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return handler


def _creator(create_row: Callable, item: Callable, collection: str) -> Callable:
    def handler(caller, body):
        row = create_row(caller.administration_id, body)
        return item(row), 201, location(collection, row.id)
    return handler


def _reader(read_row: Callable, item: Callable) -> Callable:
    def handler(caller, id):
        return item(read_row(caller.administration_id, id))
    return handler


def _writer(write_row: Callable, item: Callable) -> Callable:
    def handler(caller, id, body):
        return item(write_row(caller.administration_id, id, body))
    return handler


def _deleter(delete_row: Callable) -> Callable:
    def handler(caller, id):
        delete_row(caller.administration_id, id)
        return None, 204
    return handler


def operations(collection: str, item: Callable[[Any], Any], *, page: Callable | None = None,
               **model_functions: Callable) -> tuple[Callable, ...]:
    """The handlers of `collection`'s standard operations, in the order the keywords name
    them: `list`, `create`, `get`, `replace`, `update` and `delete`, each bound to its model
    function. `item` serialises one row; `page` a list's page (default: `item` per row in
    the list envelope)."""
    item = _late(item)
    page = _late(page) if page else (lambda listed: serialize.page(listed, item))
    builders: dict[str, Callable[[Callable], Callable]] = {
        "list": lambda f: _lister(f, page),
        "create": lambda f: _creator(f, item, collection),
        "get": lambda f: _reader(f, item),
        "replace": lambda f: _writer(f, item),
        "update": lambda f: _writer(f, item),
        "delete": _deleter,
    }
    unknown = sorted(set(model_functions) - set(builders))
    if unknown:
        raise TypeError(f"not a standard operation: {', '.join(unknown)}")
    handlers = []
    for kind, function in model_functions.items():
        handler = builders[kind](function if kind == "list" else _late(function))
        # Named after the model function it calls, for tracebacks and profiles.
        handler.__name__ = handler.__qualname__ = function.__name__
        handlers.append(handler)
    return tuple(handlers)
