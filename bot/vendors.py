"""Vendor configuration: the YAML schema, loading a folder of vendors, and each vendor's runtime."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from bot.adapters import PROVIDERS, channel_module
from bot.delivery_policy import DeliverySettings
from dialogs import Dialog, DialogSpec, Registry, YamlInvalid, YamlProblem, load_segment_dialog
from dialogs.yamlsource import line_of, load_yaml, validate
from intents import CatalogueItem, NluParser
from intents.config import NluOptions
from intents.rasa_http import RasaHttpParser
from locales import SUPPORTED
from storage import Product
from templates import MessageCatalog, MessageError, load_segment, segment_file

ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}")


class ProductSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_-]{0,31}$")
    name: str = Field(min_length=1, max_length=120)
    price: int = Field(ge=0)
    stock: int = Field(ge=0)
    description: str | None = None
    image_url: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class LiveSellerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reservation_minutes: float = Field(default=10, gt=0, le=24 * 60)
    reminder_percent: int = Field(default=70, ge=10, le=95)
    max_quantity: int = Field(default=5, ge=1, le=100)


class NotifySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["web", "whatsapp", "telegram", "sms", "email"] = "web"
    provider: str = "simulator"
    address: str


class _Channels(BaseModel):
    """The providers a vendor is reachable on; read like a dict of provider -> adapter Config."""

    model_config = ConfigDict(extra="forbid")

    def get(self, provider: str, default: Any = None) -> Any:
        return getattr(self, provider, None) or default

    def items(self) -> list[tuple[str, Any]]:
        return [(p, c) for p in PROVIDERS if (c := getattr(self, p, None)) is not None]

    def __getitem__(self, provider: str) -> Any:
        config = getattr(self, provider, None)
        if config is None:
            raise KeyError(provider)
        return config

    def __setitem__(self, provider: str, config: Any) -> None:
        setattr(self, provider, config)


# One optional field per adapter, typed by its Config, so an error reads "channels.wasender.api_key".
VendorChannels = create_model(  # type: ignore[call-overload]
    "VendorChannels", __base__=_Channels, **{p: (channel_module(p).Config | None, None) for p in PROVIDERS}
)


class VendorConfig(BaseModel):
    """One vendor's YAML file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str = Field(min_length=1)
    segment: Literal["live_seller"] = "live_seller"
    locale: str = "fr"
    currency: Literal["XOF"] = "XOF"
    timezone: str = "Africa/Dakar"
    settings: LiveSellerSettings = Field(default_factory=LiveSellerSettings)
    catalogue: list[ProductSpec] = Field(min_length=1)
    messages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notify: NotifySpec | None = None
    psp: Literal["sandbox"] = "sandbox"
    # provider -> that adapter's Config (credentials as ${ENV} references); the simulator is always on
    channels: VendorChannels = Field(default_factory=lambda: VendorChannels())
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)  # rate limits, fallback, template
    nlu: NluOptions = Field(default_factory=NluOptions)  # the vendor's own NLU examples and product synonyms

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in SUPPORTED:
            raise ValueError(f"locale must be one of {', '.join(SUPPORTED)}")
        return v

    @model_validator(mode="after")
    def _unique_codes(self) -> VendorConfig:
        seen: set[str] = set()
        for p in self.catalogue:
            if p.code in seen:
                raise ValueError(f"product code {p.code} appears twice in the catalogue")
            seen.add(p.code)
        return self


def resolve_env(value: Any, env: os._Environ[str] | dict[str, str] = os.environ) -> Any:
    """Replace ${VAR} references by the environment's values (secrets never live in YAML)."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise KeyError(m.group(1))
            return env[m.group(1)]

        return ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: resolve_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, env) for v in value]
    return value


def load_vendor_file(path: Path) -> VendorConfig:
    """Read and validate a vendor file; ${ENV} references in `channels` are resolved first."""
    return read_vendor_file(path)[0]


def read_vendor_file(path: Path) -> tuple[VendorConfig, dict[Any, int]]:
    """The validated vendor file and the line of each of its values."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlInvalid([YamlProblem(str(path), 1, f"cannot read file: {exc}")]) from None
    data, lines = load_yaml(text, str(path))
    if isinstance(data, dict) and isinstance(data.get("channels"), dict):
        try:
            data["channels"] = resolve_env(data["channels"])
        except KeyError as exc:
            line = line_of(lines, ("channels",))
            raise YamlInvalid([YamlProblem(str(path), line, f"channels: environment variable {exc} is not set")]) \
                from None
    return validate(VendorConfig, data, lines, str(path)), lines


def message_problems(catalog: MessageCatalog, path: Path, lines: dict[Any, int]) -> list[YamlProblem]:
    """The catalog's problems as file:line: a vendor's wording in its file, ours in templates/."""
    shipped_lines: dict[str, dict[Any, int]] = {}
    out: list[YamlProblem] = []
    for p in catalog.problems:
        where = ".".join(str(x) for x in ("messages", p.locale, p.key, *p.part) if x != "")
        if p.origin == "vendor":
            line = line_of(lines, ("messages", p.locale, *((p.key, *p.part) if p.key else ())))
            out.append(YamlProblem(str(path), line, f"{where}: {p.message}"))
            continue
        source = segment_file(catalog.segment, p.locale)
        if p.locale not in shipped_lines:
            shipped_lines[p.locale] = load_yaml(source.read_text(encoding="utf-8"), str(source))[1]
        out.append(YamlProblem(str(source), line_of(shipped_lines[p.locale], (p.key, *p.part)),
                               f"{p.key}: {p.message}"))
    return out


@dataclass
class Vendor:
    """A loaded vendor: its configuration plus compiled dialog, messages and NLU."""

    config: VendorConfig
    dialog: Dialog
    messages: MessageCatalog
    nlu: NluParser
    source: str
    rasa: RasaHttpParser | None = None  # asked first when the vendor runs its own Rasa server

    @property
    def id(self) -> str:
        return self.config.id

    def products(self) -> list[Product]:
        return [
            Product(vendor_id=self.id, code=p.code, name=p.name, price=p.price, stock=p.stock,
                    description=p.description, image_url=p.image_url)
            for p in self.config.catalogue
        ]


class VendorLoader:
    """Compiles vendors; one Dialog per segment is shared by every vendor of that segment."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._dialogs: dict[str, Dialog] = {}
        self._segment_messages: dict[str, Any] = {}

    def _dialog(self, segment: str) -> Dialog:
        if segment not in self._dialogs:
            spec: DialogSpec = load_segment_dialog(segment)
            self._dialogs[segment] = Dialog(spec, self._registry)
            self._segment_messages[segment] = load_segment(segment)
        return self._dialogs[segment]

    def load(self, path: str | Path) -> Vendor:
        path = Path(path)
        cfg, lines = read_vendor_file(path)
        dialog = self._dialog(cfg.segment)
        try:
            catalog = MessageCatalog(self._segment_messages[cfg.segment], cfg.messages, segment=cfg.segment,
                                     owner=cfg.id)
        except MessageError as exc:
            raise YamlInvalid([YamlProblem(str(path), 1, f"messages: {exc}")]) from None
        # What `palabre check` refuses, the server refuses too: vendor wording is untrusted input.
        if catalog.problems:
            raise YamlInvalid(message_problems(catalog, path, lines))
        _, keys = dialog.spec.names_used()
        missing = sorted(k for k in keys if not catalog.has(k, cfg.locale))
        if missing:
            raise YamlInvalid([YamlProblem(str(path), 1, f"messages missing: {', '.join(missing)}")])
        try:
            nlu = NluParser([CatalogueItem(code=p.code, name=p.name) for p in cfg.catalogue], locale=cfg.locale,
                            examples=cfg.nlu.examples, synonyms=cfg.nlu.synonyms, threshold=cfg.nlu.threshold)
        except ValueError as exc:
            raise YamlInvalid([YamlProblem(str(path), 1, f"nlu: {exc}")]) from None
        rasa = RasaHttpParser(cfg.nlu.rasa.url, cfg.nlu.rasa.timeout, fallback=nlu) if cfg.nlu.rasa else None
        return Vendor(config=cfg, dialog=dialog, messages=catalog, nlu=nlu, rasa=rasa, source=str(path))

    def load_dir(self, directory: str | Path) -> dict[str, Vendor]:
        """Every *.yaml / *.yml of a folder; all problems of all files are reported together."""
        return self.load_files(sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")]))

    def load_files(self, files: list[Path]) -> dict[str, Vendor]:
        """These vendor files, each id once; all problems of all files are reported together."""
        vendors: dict[str, Vendor] = {}
        problems: list[YamlProblem] = []
        for f in files:
            try:
                v = self.load(f)
            except YamlInvalid as exc:
                problems.extend(exc.problems)
                continue
            if v.id in vendors:
                problems.append(YamlProblem(str(f), 1, f"vendor id '{v.id}' already used by {vendors[v.id].source}"))
            vendors[v.id] = v
        if problems:
            raise YamlInvalid(problems)
        return vendors
