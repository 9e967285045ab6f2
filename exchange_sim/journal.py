"""The msgpack journal: a header map, then events as msgpack arrays (see :mod:`exchange_sim.events`).

The journal's digest is the sha256 of its bytes. Writing is buffered: events are packed into a
``bytearray`` and flushed to the file (and the hash) in blocks, so journaling costs one
``Packer.pack`` call per event.

Closing a journal appends a **trailer** record, ``[0, sha256 of every byte before it]``, so a
reader can tell a complete journal from a truncated one (no trailer) and an intact one from one
with a changed byte (the trailer does not match), even when the change still decodes.
:func:`read_journal` checks a trailer when there is one and, with ``strict=True``, requires it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgpack

SCHEMA_VERSION = 1
FORMAT_NAME = "exchange-sim/journal"
TRAILER = 0
"""Code of the last record of a closed journal: ``[0, sha256 hex of every byte before it]``."""
_FLUSH_BYTES = 1 << 16


class JournalError(Exception):
    """A journal that cannot be read: not a journal, truncated, or corrupt (with the byte offset)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte {offset})")


class JournalWriter:
    """Appends msgpack records to a file, or to memory when ``path`` is ``None``.

    Call :meth:`write_header` once, then :meth:`write` per event; :meth:`close` flushes.
    """

    __slots__ = ("_buf", "_closed", "_file", "_hash", "_memory", "_pack", "events", "header", "path")

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._file: IO[bytes] | None = open(path, "wb") if path is not None else None  # noqa: SIM115
        self._memory = bytearray() if path is None else None
        self._buf = bytearray()
        self._hash = hashlib.sha256()
        self._pack = msgpack.Packer(use_bin_type=True).pack
        self.header: dict[str, Any] | None = None
        self.events = 0
        self._closed = False

    def write_header(self, header: dict[str, Any]) -> None:
        if self.header is not None:
            raise RuntimeError("journal header already written")
        self.header = header
        self._buf += self._pack(header)

    def write(self, event: tuple[Any, ...]) -> None:
        """Append one *output* event (a tuple whose first element is its code) to the buffer.

        Never touches the file: a fill in progress cannot fail on I/O (see :meth:`write_input`).
        """
        self._buf += self._pack(event)
        self.events += 1

    def write_input(self, event: tuple[Any, ...]) -> None:
        """Append one *input* event, first flushing the buffer to the file if it is large.

        Flushing happens only here, before the input changes anything, so an I/O error leaves the
        venue exactly as the previous input left it.
        """
        if len(self._buf) > _FLUSH_BYTES:
            self.flush()
        self._buf += self._pack(event)
        self.events += 1

    def flush(self) -> None:
        buf = self._buf
        if not buf:
            return
        self._hash.update(buf)
        if self._file is not None:
            self._file.write(buf)
        else:
            self._memory += buf  # type: ignore[operator]
        self._buf = bytearray()

    def close(self) -> None:
        """Flush, append the trailer (the digest of everything before it) and close the file.
        Closing twice is harmless; writing after closing is an error."""
        if self._closed:
            return
        self.flush()
        self._buf += self._pack([TRAILER, self._hash.hexdigest()])
        self.flush()
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def nbytes(self) -> int:
        flushed = self._file.tell() if self._file is not None else len(self._memory or b"")
        return flushed + len(self._buf)

    def digest(self) -> str:
        """sha256 (hex) of every byte written so far (after :meth:`close`: of the whole file,
        trailer included, which is what ``sha256sum`` of the file prints)."""
        self.flush()
        return self._hash.hexdigest()

    def getvalue(self) -> bytes:
        """The bytes of an in-memory journal."""
        if self._memory is None:
            raise RuntimeError("getvalue() is for in-memory journals; read the file instead")
        self.flush()
        return bytes(self._memory)


def has_trailer(data: bytes) -> bool:
    """Whether ``data`` ends with a trailer record (not checked: :func:`read_journal` checks it)."""
    tail = data[-68:]  # [0, "<64 hex>"]: 0x92 0x00 0xd9 0x40 + 64 bytes
    return len(tail) == 68 and tail[:4] == b"\x92\x00\xd9\x40"


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(source: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    return Path(source).read_bytes()


def iter_records(data: bytes) -> Iterator[tuple[int, Any]]:
    """Yield ``(offset, record)`` for each msgpack record; raise :class:`JournalError` on damage."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, use_list=True)
    unpacker.feed(data)
    offset = 0
    while offset < len(data):
        try:
            record = unpacker.unpack()
        except msgpack.OutOfData:
            raise JournalError("journal is truncated: its last record is incomplete", offset) from None
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
            raise JournalError(f"journal is corrupt: {exc}", offset) from None
        yield offset, record
        offset = unpacker.tell()


def read_journal(
    source: str | os.PathLike[str] | bytes, *, strict: bool = False, verify: bool = True
) -> tuple[dict[str, Any], list[list[Any]]]:
    """Read a whole journal: ``(header, events)`` (the trailer is checked, not returned).

    Raises :class:`JournalError`, with the byte offset, if it is damaged: a record that does not
    decode, a truncated last record, or a trailer that does not match the bytes before it (a
    changed byte that still decodes). With ``strict``, a journal without its trailer (cut off at
    a record boundary, or never closed) is an error too. ``verify=False`` skips the trailer's
    check (to locate a change that still decodes by replaying, see :mod:`exchange_sim.replay`)."""
    data = read_bytes(source)
    records = iter_records(data)
    try:
        _, header = next(records)
    except StopIteration:
        raise JournalError("journal is empty", 0) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise JournalError("not an exchange-sim journal (no header)", 0)
    if header.get("schema") != SCHEMA_VERSION:
        raise JournalError(f"journal schema {header.get('schema')!r} is not {SCHEMA_VERSION}", 0)
    events = []
    for offset, record in records:
        if not isinstance(record, list) or not record or not isinstance(record[0], int):
            raise JournalError("journal is corrupt: record is not an event array", offset)
        if record[0] == TRAILER:
            end = offset + len(msgpack.packb(record, use_bin_type=True))
            if end != len(data):
                raise JournalError("journal is corrupt: records follow its trailer", end)
            if verify and record[1:] != [digest_of(data[:offset])]:
                raise JournalError(
                    "journal is corrupt: its bytes do not match the digest in its trailer"
                    " (a byte was changed somewhere before it)",
                    offset,
                )
            return header, events
        events.append(record)
    if strict:
        raise JournalError("journal ends without its trailer: it was truncated, or never closed", len(data))
    return header, events
