"""`/api/vendors/{vendor}/live` and `/products`: live sessions and the catalogue through the API (inbox
users' tokens and roles, or the admin token), and how the vendor's desk joins the app."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from bot.http import ApiError, bearer_token, read_json, secure_equal
from bot.http.catalogue import MAX_STOCK
from bot.inbox.roles import Action
from bot.inbox.users import authenticate, require
from bot.live.catalogue import CatalogueError
from bot.live.commands import CODE, MAX_NAME, MAX_PRICE
from bot.live.desk import VendorDesk
from bot.runtime import RUNTIME, Runtime, every
from bot.settings import Settings
from bot.vendors import Vendor
from storage.live import LiveSession, LiveStore

log = logging.getLogger("palabre.live")

BASE = "/api/vendors/{vendor}"
DESK = web.AppKey("vendor_desk", VendorDesk)
TEND_SECONDS = 5.0  # how soon a reload's names and prices give way to the vendor's changes again
STATUS = {"unknown_product": 404, "exists": 409, "removed": 409}


class NewProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE.pattern)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    price: StrictInt = Field(ge=0, le=MAX_PRICE)
    stock: StrictInt = Field(ge=0, le=MAX_STOCK)

    @field_validator("code", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v


class ProductChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    price: StrictInt | None = Field(default=None, ge=0, le=MAX_PRICE)
    stock: StrictInt | None = Field(default=None, ge=0, le=MAX_STOCK)


def make_live_store(settings: Settings) -> LiveStore:
    """Next to the conversations: MongoDB when configured, else a SQLite file in the data folder."""
    if settings.mongodb_uri:
        from storage.live_mongo import MongoLiveStore

        return MongoLiveStore(settings.mongodb_uri, settings.mongodb_db)
    from storage.live_sqlite import SqliteLiveStore

    return SqliteLiveStore(settings.data_dir)


async def _allowed(request: web.Request, resource: str, action: Action) -> tuple[VendorDesk, Vendor, str]:
    """The desk, the vendor and who acts: the admin token, or an inbox user whose role may `action` the
    `resource` for this vendor (401 without a valid token, 403 for a role that may not)."""
    rt: Runtime = request.app[RUNTIME]
    vendor_id = request.match_info["vendor"]
    token = rt.settings.admin_token
    actor = "admin"
    if not (token and secure_equal(bearer_token(request), token)):
        caller = await authenticate(request, rt.inbox.store)
        require(caller, resource, action)
        if not caller.sees(vendor_id):
            raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
        actor = caller.name
    vendor = rt.vendors.get(vendor_id)
    if vendor is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
    return request.app[DESK], vendor, actor


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise ApiError(400, "invalid_body", f"{where}: {err['msg']}") from None


def _code(request: web.Request) -> str:
    code = request.match_info["code"].strip().upper()
    if not CODE.match(code):
        raise ApiError(400, "invalid_code", "a product code is a letter then letters, digits, _ or - (e.g. ROBE1)")
    return code


def _refused(exc: CatalogueError) -> ApiError:
    return ApiError(STATUS.get(exc.problem, 400), exc.problem, f"product {exc.code}: {exc.problem.replace('_', ' ')}")


def _ref(request: web.Request, vendor: Vendor, what: str) -> str:
    """An `Idempotency-Key` makes a retried start or stop the same request (as Stripe's API does)."""
    key = (request.headers.get("Idempotency-Key") or "").strip()[:128]
    return f"api:{vendor.id}:{what}:{key or uuid.uuid4().hex}"


def _session(session: LiveSession | None) -> dict[str, Any] | None:
    return session.model_dump(exclude={"start_ref", "stop_ref"}) if session else None


# live sessions
async def get_live(request: web.Request) -> web.Response:
    desk, vendor, _ = await _allowed(request, "analytics", "read")
    sessions = await desk.live.sessions(vendor.id, limit=20)
    current = next((s for s in sessions if s.open), None)
    return web.json_response({"current": _session(current), "sessions": [_session(s) for s in sessions]})


async def start_live(request: web.Request) -> web.Response:
    desk, vendor, actor = await _allowed(request, "products", "update")
    ref = _ref(request, vendor, "start")
    session, started = await desk.start_live(vendor, desk.rt.clock(), actor, ref)
    if started:
        await desk.tell_vendor(vendor, f"{ref}:tell", desk.render(vendor, "live_started", session=session.model_dump()))
    return web.json_response({"started": started, "session": _session(session)}, status=201 if started else 200)


async def stop_live(request: web.Request) -> web.Response:
    desk, vendor, actor = await _allowed(request, "products", "update")
    ref = _ref(request, vendor, "stop")
    closed = await desk.stop_live(vendor, desk.rt.clock(), actor, ref)
    if closed is None:
        raise ApiError(409, "not_live", f"vendor '{vendor.id}' has no live on")
    await desk.tell_vendor(vendor, f"{ref}:tell", desk.render(vendor, "live_summary", summary=closed.summary))
    return web.json_response({"session": _session(closed), "summary": closed.summary})


# the catalogue
async def list_products(request: web.Request) -> web.Response:
    desk, vendor, _ = await _allowed(request, "products", "read")
    return web.json_response({"products": await desk.catalogue.listing(vendor)})


async def add_product(request: web.Request) -> web.Response:
    desk, vendor, actor = await _allowed(request, "products", "create")
    new: NewProduct = await _body(request, NewProduct)
    try:
        product = await desk.catalogue.add(vendor, new.code, new.name.strip(), new.price, new.stock, actor)
    except CatalogueError as exc:
        raise _refused(exc) from None
    return web.json_response(product.model_dump(include={"code", "name", "price", "stock"}), status=201)


async def change_product(request: web.Request) -> web.Response:
    desk, vendor, actor = await _allowed(request, "products", "update")
    code = _code(request)
    change: ProductChange = await _body(request, ProductChange)
    if change.name is None and change.price is None and change.stock is None:
        raise ApiError(400, "invalid_body", 'send at least one of "name", "price", "stock"')
    try:
        if change.name is not None or change.price is not None:
            _, product = await desk.catalogue.update(vendor, code, actor, price=change.price,
                                                     name=change.name.strip() if change.name else None)
        if change.stock is not None:
            product = await desk.catalogue.set_stock(vendor, code, change.stock)
    except CatalogueError as exc:
        raise _refused(exc) from None
    return web.json_response(product.model_dump(include={"code", "name", "price", "stock"}))


async def remove_product(request: web.Request) -> web.Response:
    desk, vendor, actor = await _allowed(request, "products", "delete")
    try:
        product = await desk.catalogue.remove(vendor, _code(request), actor)
    except CatalogueError as exc:
        raise _refused(exc) from None
    return web.json_response({"code": product.code, "removed": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get(f"{BASE}/live", get_live),
        web.post(f"{BASE}/live/start", start_live),
        web.post(f"{BASE}/live/stop", stop_live),
        web.get(f"{BASE}/products", list_products),
        web.post(f"{BASE}/products", add_product),
        web.patch(f"{BASE}/products/{{code}}", change_product),
        web.delete(f"{BASE}/products/{{code}}", remove_product),
    ]


def install(app: web.Application) -> None:
    """Join the vendor's desk to an app: its store opens before the runtime starts (so no vendor command is
    ever taken for a buyer's) and closes after it stopped; it then tends the catalogue and daily timers."""
    rt: Runtime = app[RUNTIME]
    desk = VendorDesk(rt, make_live_store(rt.settings))
    app[DESK] = desk
    rt.pipeline.turns.vendor_desk = desk
    tending: list[asyncio.Task[None]] = []

    async def live_store(_: web.Application) -> AsyncIterator[None]:
        await desk.live.start()
        yield
        await desk.live.close()

    async def start_tending(_: web.Application) -> None:
        try:  # once before serving: the vendor's prices and added products are there from the first message
            await desk.tend()
        except Exception:
            log.exception("vendor desk: first tending failed; retried in %.0f s", TEND_SECONDS)
        tending.append(asyncio.create_task(every(TEND_SECONDS, desk.tend, "vendor desk")))

    async def stop_tending(_: web.Application) -> None:
        for task in tending:
            task.cancel()
        if tending:
            await asyncio.wait(tending, timeout=5)

    app.cleanup_ctx.insert(0, live_store)
    app.on_startup.append(start_tending)
    app.on_shutdown.append(stop_tending)
    app.add_routes(routes())
