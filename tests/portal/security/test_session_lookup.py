"""The session lookup reads plain rows and puts the objects in the request's session itself
(docs/decisions/0012): they must be what the ORM would have loaded, and behave like it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from portal.accounts.models import Account, Role, User
from portal.app import AppState
from portal.security import sessions
from portal.security.models import WebSession


def _columns(obj: object) -> dict[str, Any]:
    mapper = sa_inspect(type(obj))
    return {attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs}


def _orm_loaded(state: AppState, cls: type, ident: object) -> dict[str, Any]:
    with state.db.unit_of_work(write=False) as db:
        obj = db.get(cls, ident)
        assert obj is not None
        return _columns(obj)


def _typed(values: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    return {key: (type(value), value) for key, value in values.items()}


def test_the_session_user_and_account_are_what_the_orm_loads_with_the_same_types(
    state: AppState, make_account: Callable[..., str], make_user: Callable[..., User]
) -> None:
    make_account("C-1", name="Harbor Robotics", tier="gold")
    user = make_user("carol@example.com", Role.CUSTOMER_ADMIN, account_id="C-1", name="Carol")
    with state.db.unit_of_work() as db:
        token, _row = sessions.start(db, user=db.get(User, user.id), absolute_s=3600, data={"k": [1, "two"]})
    with state.db.unit_of_work(write=False) as db:
        loaded = sessions.load(db, token, idle_s=3600)
        assert loaded is not None
        assert loaded.user is not None
        assert loaded.user.account is not None
        got_row, got_user, got_account = _columns(loaded.row), _columns(loaded.user), _columns(loaded.user.account)
    assert _typed(got_row) == _typed(_orm_loaded(state, WebSession, loaded.row.token_hash))
    assert _typed(got_user) == _typed(_orm_loaded(state, User, user.id))
    assert _typed(got_account) == _typed(_orm_loaded(state, Account, "C-1"))
    assert got_user["role"] is Role.CUSTOMER_ADMIN
    assert got_row["data"] == {"k": [1, "two"]}
    assert got_row["expires_at"].tzinfo is not None


def test_the_loaded_objects_are_persistent_in_the_request_session_and_their_changes_are_written(
    state: AppState, make_user: Callable[..., User]
) -> None:
    user = make_user("dave@example.com", name="Dave")
    with state.db.unit_of_work() as db:
        token, _row = sessions.start(db, user=db.get(User, user.id), absolute_s=3600)
    with state.db.unit_of_work() as db:
        loaded = sessions.load(db, token, idle_s=3600)
        assert loaded is not None
        assert loaded.user is not None
        assert sa_inspect(loaded.user).persistent
        assert loaded.user in db
        # The identity map answers with the same objects, as after an ORM query.
        assert db.get(User, user.id) is loaded.user
        assert db.scalars(select(WebSession).where(WebSession.user_id == user.id)).one() is loaded.row
        assert loaded.user.account is None  # no company account: set, not lazily loaded
        loaded.user.name = "David"
        assert loaded.user in db.dirty
    assert _orm_loaded(state, User, user.id)["name"] == "David"


def test_a_user_already_in_the_session_is_returned_as_it_is(state: AppState, make_user: Callable[..., User]) -> None:
    user = make_user("erin@example.com", name="Erin")
    with state.db.unit_of_work() as db:
        token, _row = sessions.start(db, user=db.get(User, user.id), absolute_s=3600)
    with state.db.unit_of_work(write=False) as db:
        earlier = db.get(User, user.id)
        assert earlier is not None
        earlier.name = "not flushed"
        loaded = sessions.load(db, token, idle_s=3600)
        assert loaded is not None
        assert loaded.user is earlier
        assert loaded.user.name == "not flushed"


def test_a_session_without_a_user_and_an_unknown_token(state: AppState) -> None:
    with state.db.unit_of_work() as db:
        token, _row = sessions.start(db, user=None, absolute_s=3600, data={"flow": "x"})
    with state.db.unit_of_work(write=False) as db:
        loaded = sessions.load(db, token, idle_s=3600)
        assert loaded is not None
        assert loaded.user is None
        assert loaded.row.data == {"flow": "x"}
        assert sessions.load(db, token + "x", idle_s=3600) is None
