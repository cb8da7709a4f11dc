"""Reading an Inbound Parse POST: the multipart form, its charsets and encoded headers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from typing import Any

import aiohttp
from aiohttp.base_protocol import BaseProtocol

from channels.email.config import MAX_FIELDS, InboundError

# ---------------------------------------------------------------------------------------------- inbound


@dataclass
class _Form:
    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)


async def read_form(raw: bytes, content_type: str) -> _Form:
    """The multipart/form-data fields of the POST, read from the bytes we received."""
    if not content_type.lower().lstrip().startswith("multipart/form-data"):
        raise InboundError("expected multipart/form-data")
    loop = asyncio.get_running_loop()
    stream = aiohttp.StreamReader(BaseProtocol(loop), limit=len(raw) + 1, loop=loop)
    stream.feed_data(raw)
    stream.feed_eof()
    form = _Form()
    try:
        reader = aiohttp.MultipartReader({"Content-Type": content_type}, stream)
        count = 0
        while (part := await reader.next()) is not None:
            count += 1
            if count > MAX_FIELDS:
                raise InboundError("too many form fields")
            if not isinstance(part, aiohttp.BodyPartReader):
                await part.release()
                continue
            data = bytes(await part.read())
            if part.filename is not None:
                form.files.append({"field": part.name, "filename": part.filename,
                                   "type": part.headers.get("Content-Type"), "size": len(data)})
            elif part.name and part.name not in form.fields:
                form.fields[part.name] = data
    except InboundError:
        raise
    except Exception as exc:
        # aiohttp's reader signals malformed bodies with many exception types (ValueError,
        # AssertionError, RuntimeError, LineTooLong…): all of them mean "not a form we can read".
        raise InboundError(f"malformed multipart body ({type(exc).__name__})") from None
    return form


def decode_field(form: _Form, name: str, charsets: dict[str, str]) -> str | None:
    data = form.fields.get(name)
    if data is None:
        return None
    charset = charsets.get(name) or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def json_field(form: _Form, name: str) -> dict[str, Any]:
    try:
        value = json.loads(form.fields.get(name) or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def header_of(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:
        # The default policy parses a header when it is read, and a few malformed values make
        # that parser raise instead of recording a defect: treat such a header as absent.
        return None
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def decoded_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


