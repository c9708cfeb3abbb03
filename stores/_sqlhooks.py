"""The dialect-specific corners of `SqlStore`, kept narrow and in one place.

Everything here answers "how does SQLite differ from PostgreSQL?": URL
checking, engine and connection set-up, the upsert construct, the schema
lock, turning driver errors into `StoreError`s that say what to do, and
`SqliteDirect`: SQLite's hot path, which runs the store's precompiled SQL on
the sqlite3 connection itself. The store plans every transaction the same
way on both backends; only who executes the statements differs.
"""

from __future__ import annotations

import re
import select
import sqlite3
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from .errors import StoreError

DURABILITIES = ("process", "fsync")
URL_FORMS = "sqlite:///path.db, sqlite:// (in memory) or postgresql+psycopg://user@host/db"
BUSY_TIMEOUT_S = 30.0
# PostgreSQL ends a session left idle inside a transaction this long: the store's transactions
# send their statements back to back, so only a frozen client (SIGSTOP, a paused VM) is that
# slow, and its row locks (shard leases, workflow rows) would otherwise stall every other node
# for as long as it stays frozen.
IDLE_IN_TRANSACTION_S = 5.0
# Connection option telling the SQLite "begin" hook to take the write lock up front.
WRITE = "aion_write"
# Errors a driver may raise outside SQLAlchemy's wrapping (e.g. from a connect hook).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error)
# PostgreSQL SQLSTATEs meaning "this transaction lost a race; running it again is safe".
_RETRYABLE_SQLSTATES = {"40001", "40P01"}
# Any fixed key works: it only serialises concurrent schema creation.
_SCHEMA_LOCK_KEY = 0x61696F6E


class RetryableConflict(StoreError):
    """A PostgreSQL serialization failure or deadlock; the whole transaction may be rerun."""


def parse_url(url: object) -> URL:
    """Check a store URL and pin the PostgreSQL driver to psycopg 3."""
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"store URL must be a non-empty string such as {URL_FORMS}; got {url!r}")
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a non-numeric port only fails when read
    except (ArgumentError, ValueError) as exc:
        shown = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)  # never echo a password
        raise StoreError(f"cannot read store URL {shown!r}: expected {URL_FORMS}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}: expected {URL_FORMS}"
    )


def describe(url: URL) -> str:
    """How error messages name the database (never with its password)."""
    if is_sqlite(url):
        return "an in-memory SQLite database" if is_sqlite_memory(url) else f"SQLite database {url.database!r}"
    return f"PostgreSQL database {url.render_as_string(hide_password=True)!r}"


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_sqlite_memory(url: URL) -> bool:
    return is_sqlite(url) and url.database in (None, "", ":memory:")


def build_engine(url: URL, durability: str, *, pool_size: int, max_overflow: int) -> Engine:
    """An engine whose connections are set up for the store's transactions.

    SQLite: WAL, a busy timeout, `synchronous` from `durability`, and BEGIN
    emitted by us so writers take the lock at BEGIN (`BEGIN IMMEDIATE`)
    instead of failing to upgrade a read lock mid-transaction. PostgreSQL:
    commits are always durable (`durability` is ignored), READ COMMITTED.
    """
    if durability not in DURABILITIES:
        raise StoreError(f"durability must be one of {', '.join(map(repr, DURABILITIES))}; got {durability!r}")
    if not is_sqlite(url):
        options = " ".join(filter(None, (str(url.query.get("options") or ""), "-c idle_in_transaction_session_timeout="
                                         f"{int(IDLE_IN_TRANSACTION_S * 1000)}")))
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, connect_args={"options": options})
        event.listen(engine, "checkout", _refuse_closed)
        return engine
    if is_sqlite_memory(url):
        # One connection, or every thread would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                               connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})
    synchronous = "NORMAL" if durability == "process" else "FULL"
    wal = not is_sqlite_memory(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: this runs once per transaction, on the hot path.
        conn.connection.driver_connection.execute(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out only connections the server has not closed, without a round trip.

    `pool_pre_ping` would send a `SELECT 1` before every transaction: a quarter of
    a millisecond on loopback, a fifth of a one-statement request. A pooled
    connection is idle, so the server has nothing to say on it unless it is
    closing it (a restart, `pg_terminate_backend`, an idle timeout): its socket is
    readable or already closed. Raising `DisconnectionError` makes the pool
    replace the connection and try again. What neither check sees (a peer gone
    without a word, across a network) surfaces as the statement's error.
    """
    try:
        closed = dbapi_connection.closed or bool(_readable(dbapi_connection.fileno()))
    except Exception:  # noqa: BLE001 -- a connection that cannot answer is as good as closed
        closed = True
    if closed:
        raise DisconnectionError("the server closed this pooled connection")


def _readable(fd: int) -> list:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return poller.poll(0)


def insert_for(dialect: Dialect) -> Callable[..., Any]:
    """The `insert` that knows `ON CONFLICT` for this dialect."""
    return sqlite_dialect.insert if dialect.name == "sqlite" else pg_dialect.insert


def lock_schema(conn: Connection) -> None:
    """Serialise schema creation between processes (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})


def translate(exc: BaseException, action: str, where: str) -> StoreError:
    """A `StoreError` saying what went wrong while `action` on `where`, and what to do."""
    orig = getattr(exc, "orig", None) or exc
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    low = detail.lower()
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return RetryableConflict(f"{where}: transaction lost a race while {action} ({detail}); retry it")
    if "database is locked" in low or "database table is locked" in low:
        return StoreError(
            f"{where} stayed locked by another writer for longer than the busy timeout "
            f"({BUSY_TIMEOUT_S:g} s) while {action}: another process holds a long transaction; "
            f"retry later or stop that process"
        )
    if "unable to open database file" in low:
        return StoreError(f"cannot open {where}: check that its directory exists and is writable")
    if "file is not a database" in low or "malformed" in low:
        return StoreError(f"{where} is not a readable SQLite database ({detail}); "
                          f"point the URL at another file or restore a backup")
    if "readonly" in low or "read-only" in low:
        return StoreError(f"{where} is read-only ({detail}); the store needs write access")
    from_psycopg = type(orig).__module__.startswith("psycopg")
    # psycopg reports a failed connection as an OperationalError without SQLSTATE.
    if (sqlstate or "").startswith("08") or (from_psycopg and sqlstate is None) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return StoreError(f"cannot connect to {where} ({detail}); check that the server is running "
                          f"and the URL (postgresql+psycopg://user@host:port/db) is right")
    return StoreError(f"database error while {action} on {where}: {detail}")


class Prepared:
    """A statement compiled once for a dialect, for running straight on the driver.

    Bulk writes go this way because SQLAlchemy's per-row parameter processing
    was a fifth of a batched append's time, and SQLite's hot path
    (`SqliteDirect`) runs every statement this way. Rows must already hold
    values the driver takes as they are (str, int, bool, bytes, None).

    Args:
        stmt: the SQLAlchemy construct; kept as `stmt` for `Connection.execute`.
        keys: for an INSERT without values, the columns the rows give.
    """

    def __init__(self, stmt: Any, dialect: Dialect, keys: Sequence[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.stmt = stmt
        self.sql = compiled.string
        self._order = compiled.positiontup  # None under a named paramstyle (psycopg)

    def params(self, row: dict[str, Any]) -> Any:
        """`row` as the driver takes it: a tuple under `?` placeholders, else the dict."""
        order = self._order
        return tuple(row[key] for key in order) if order else row

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> Any:
        order = self._order
        params = [tuple(row[key] for key in order) for row in rows] if order else rows
        return conn.exec_driver_sql(self.sql, params)


class SqliteDirect:
    """SQLite's hot path: `Prepared` SQL run on the sqlite3 connection itself.

    SQLAlchemy's connection begin/execute/commit machinery cost ≈4x the
    statements themselves in the small transactions the engine commits all
    the time, so SQLite's appends and point reads skip it. The connections
    still come from the engine's pool, so they carry the connect hook's set-up
    (busy timeout, WAL, `synchronous`, no implicit BEGIN).

    - Writes (`transaction`) use one connection kept checked out, touched only
      under the store's write lock, in an explicit `BEGIN IMMEDIATE` ...
      `COMMIT`: a writer in another process waits for the lock (busy timeout)
      instead of racing, so two processes still get exactly one winner.
    - Reads (`fetch`) are one SELECT in autocommit mode (its own snapshot) on
      a connection checked out for it, so they never wait for a writer.
    - In memory (`shared`) every checkout is the pool's one connection and
      the store's RLock serialises all use, so reads take the held one too.

    Driver errors come out as `StoreError`s (`translate`).
    """

    def __init__(self, engine: Engine, where: str, *, shared: bool) -> None:
        self._engine, self._where, self._shared = engine, where, shared
        self._held: Any = None  # the pool's PoolProxiedConnection for writes, checked out on first use

    def _connection(self) -> sqlite3.Connection:
        if self._held is None:
            self._held = self._engine.raw_connection()
        return self._held.driver_connection

    @contextmanager
    def transaction(self, action: str) -> Iterator[sqlite3.Cursor]:
        """A cursor in `BEGIN IMMEDIATE`; COMMIT after the block, ROLLBACK if it raises.

        The caller holds the store's write lock (in memory: its RLock).
        """
        try:
            cursor = self._connection().cursor()
            cursor.execute("BEGIN IMMEDIATE")
        except DRIVER_ERRORS as exc:
            raise translate(exc, action, self._where) from exc
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException as exc:
            self._roll_back()
            if isinstance(exc, DRIVER_ERRORS):
                raise translate(exc, action, self._where) from exc
            raise

    def _roll_back(self) -> None:
        connection = self._held.driver_connection
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:  # the connection is unusable: let the pool replace it
            held, self._held = self._held, None
            held.invalidate()
            held.close()

    def fetch(self, query: Prepared, row: dict[str, Any], action: str) -> list[tuple[Any, ...]]:
        """The rows of one SELECT. The caller holds the store's RLock when `shared`."""
        try:
            if self._shared:
                return self._connection().execute(query.sql, query.params(row)).fetchall()
            checked_out = self._engine.raw_connection()
            try:
                return checked_out.driver_connection.execute(query.sql, query.params(row)).fetchall()
            finally:
                checked_out.close()
        except DRIVER_ERRORS as exc:
            raise translate(exc, action, self._where) from exc

    def close(self) -> None:
        """Return the held connection to the pool (before the engine is disposed of)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()
