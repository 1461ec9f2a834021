"""Which database errors review-api waits out at start (the database away) and which it
raises at once (a wrong setting, a failing migration)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from review_api.store import unreachable


class ServerError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def dbapi(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "wait"),
    [
        (ConnectionRefusedError(111, "refused"), True),  # nothing listens yet
        (dbapi(ConnectionResetError()), True),
        (dbapi(ServerError("57P03")), True),  # the database system is starting up
        (dbapi(ServerError("57P01")), True),  # shutting down (admin shutdown)
        (dbapi(ServerError("08006")), True),  # connection failure
        (dbapi(ServerError("XX000"), invalidated=True), True),  # the connection was lost
        (dbapi(ServerError("28P01")), False),  # wrong password: fail at once
        (dbapi(ServerError("3D000")), False),  # no such database
        (dbapi(ServerError("42P01")), False),  # a failing migration (undefined table)
        (ValueError("not a database error"), False),
    ],
)
def test_only_an_absent_database_is_waited_for(error: BaseException, wait: bool) -> None:
    assert unreachable(error) is wait
