"""Vendor configuration: the YAML schema, loading a folder of vendors, and each vendor's runtime."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from bot.adapters import PROVIDERS, channel_module
from bot.buyers.adaptive import AdaptiveSettings
from bot.delivery.policy import DeliverySettings
from bot.payments.config import PspConfig, SandboxPsp, literal_secrets, psp_block
from dialogs import Dialog, Registry, YamlInvalid, YamlProblem
from dialogs.compose import file_kind, segment_path, shipped_segments
from dialogs.schema import DialogOverrides
from dialogs.vendor import compose_vendor_dialog, dialog_messages
from dialogs.yamlsource import line_of, load_yaml, problem_at, validate
from intents import CatalogueItem, NluParser
from intents.config import NluOptions
from intents.rasa_http import RasaHttpParser
from locales import SUPPORTED
from storage import Product
from templates import MessageCatalog, MessageError, MessageSpec, load_segment, segment_file

ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}")


class ProductSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_-]{0,31}$")
    name: str = Field(min_length=1, max_length=120)
    price: int = Field(ge=0)
    stock: int = Field(ge=0)
    description: str | None = None
    image_url: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)  # e.g. [robe, wax]: related products (bot/buyers)

    @field_validator("code", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class LiveSellerSettings(BaseModel):
    """The settings commerce actions read; a segment's dialog declares its own others (checked at load)."""

    model_config = ConfigDict(extra="allow")

    reservation_minutes: float = Field(default=10, gt=0, le=24 * 60)
    reminder_percent: int = Field(default=70, ge=10, le=95)
    max_quantity: int = Field(default=5, ge=1, le=100)
    # buyer trust (bot/buyers): refuse buyers below a score, cap a buyer's open (unpaid) orders
    min_trust_score_required: int = Field(default=0, ge=0, le=100)
    max_orders_per_client: int | None = Field(default=None, ge=1, le=100)
    # the vendor's daily summary (bot/live): sent at this hour of the vendor's timezone; unset: none
    daily_summary_hour: int | None = Field(default=None, ge=0, le=23)
    prepayment_for_flagged: bool = False  # a doubtful buyer pays first; the unit is taken at payment
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)  # welcome, VIP, badges… (bot/buyers)
    # stock-out forecasts, order pace and peaks on the dashboard (bot/velocity); off hides them all
    sales_velocity: bool = True


class NotifySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["web", "whatsapp", "telegram", "sms", "email"] = "web"
    provider: str = "simulator"
    address: str


class About(BaseModel):
    """The shop itself, in the vendor's words: the bot's answer to "vous livrez à Thiès ?", "vous êtes où ?"."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, min_length=1, max_length=500)
    hours: str | None = Field(default=None, min_length=1, max_length=500)
    delivery: str | None = Field(default=None, min_length=1, max_length=500)


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
    # a shipped segment (dialogs/segments/NAME.yaml) or the path of the vendor's own dialog file
    segment: str = "live_seller"
    dialog: DialogOverrides = Field(default_factory=DialogOverrides)  # merged onto the segment's dialog
    locale: str = "fr"
    # other languages the bot answers in, from the first message clearly written in one (intents/language.py)
    languages: list[str] = Field(default_factory=list)
    currency: Literal["XOF"] = "XOF"
    timezone: str = "Africa/Dakar"
    settings: LiveSellerSettings = Field(default_factory=LiveSellerSettings)
    catalogue: list[ProductSpec] = Field(min_length=1)
    messages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notify: NotifySpec | None = None
    # the payment provider and its account (secrets as ${ENV} references); `psp: sandbox` for development
    psp: PspConfig = Field(default_factory=SandboxPsp)
    # provider -> that adapter's Config (credentials as ${ENV} references); the simulator is always on
    channels: VendorChannels = Field(default_factory=lambda: VendorChannels())
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)  # rate limits, fallback, template
    nlu: NluOptions = Field(default_factory=NluOptions)  # the vendor's own NLU examples and product synonyms
    about: About = Field(default_factory=About)  # address, opening hours, delivery: answered when asked

    @field_validator("segment")
    @classmethod
    def _segment(cls, v: str) -> str:
        if v in shipped_segments() or v.endswith((".yaml", ".yml")):
            return v
        raise ValueError(f"unknown segment '{v}' (shipped: {', '.join(shipped_segments())}; "
                         "or the path of your own dialog file, ending in .yaml)")

    @field_validator("psp", mode="before")
    @classmethod
    def _psp(cls, v: Any) -> Any:
        return psp_block(v)

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in SUPPORTED:
            raise ValueError(f"locale must be one of {', '.join(SUPPORTED)}")
        return v

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        unknown = [lang for lang in v if lang not in SUPPORTED]
        if unknown:
            raise ValueError(f"languages must be among {', '.join(SUPPORTED)}, not {', '.join(unknown)}")
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
    if isinstance(data, dict) and isinstance(data.get("psp"), dict):
        clear = literal_secrets(data["psp"])
        if clear:
            raise YamlInvalid([problem_at(str(path), lines, ("psp", clear[0]),
                                          f"psp.{clear[0]}: write the secret as an ${{ENV_VAR}} reference",
                                          "e.g. ${WAVE_API_KEY}, set in the server's environment")])
        try:
            data["psp"] = resolve_env(data["psp"])
        except KeyError as exc:
            raise YamlInvalid([problem_at(str(path), lines, ("psp",), f"psp: environment variable {exc} is not set",
                                          "set it in the server's environment, or correct its name")]) from None
    if isinstance(data, dict) and isinstance(data.get("channels"), dict):
        try:
            data["channels"] = resolve_env(data["channels"])
        except KeyError as exc:
            raise YamlInvalid([problem_at(str(path), lines, ("channels",),
                                          f"channels: environment variable {exc} is not set",
                                          "set it in the server's environment, or correct its name")]) from None
    return validate(VendorConfig, data, lines, str(path)), lines


def message_problems(catalog: MessageCatalog, path: Path, lines: dict[Any, int]) -> list[YamlProblem]:
    """The catalog's problems as file:line: a vendor's wording in its file, ours in templates/."""
    shipped_lines: dict[str, dict[Any, int]] = {}
    out: list[YamlProblem] = []
    for p in catalog.problems:
        where = ".".join(str(x) for x in ("messages", p.locale, p.key, *p.part) if x != "")
        if p.origin == "vendor":
            loc = ("messages", p.locale, *((p.key, *p.part) if p.key else ()))
            out.append(problem_at(str(path), lines, loc, f"{where}: {p.message}"))
            continue
        source = segment_file(catalog.segment, p.locale)
        if p.locale not in shipped_lines:
            shipped_lines[p.locale] = load_yaml(source.read_text(encoding="utf-8"), str(source))[1]
        out.append(YamlProblem(str(source), line_of(shipped_lines[p.locale], (p.key, *p.part)),
                               f"{p.key}: {p.message}"))
    return out


def _new_wording(shipped: dict[str, dict[str, Any]], messages: dict[str, dict[str, Any]],
                 used: set[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Vendor wording of messages only the vendor's dialog overrides use joins the shipped wording;
    the rest stays an override of it."""
    known = {k for msgs in shipped.values() for k in msgs}
    base = {loc: dict(msgs) for loc, msgs in shipped.items()}
    overrides: dict[str, dict[str, Any]] = {}
    for written, msgs in messages.items():
        lang = str(written).replace("-", "_").split("_")[0].lower()
        for key, value in (msgs or {}).items():
            if key in used and key not in known and isinstance(value, (str, dict)):
                try:
                    base.setdefault(lang, {})[key] = \
                        MessageSpec(text=value) if isinstance(value, str) else MessageSpec.model_validate(value)
                    continue
                except ValueError:
                    pass  # left as an override: the catalog reports it at its line
            overrides.setdefault(written, {})[key] = value
    return base, overrides


@dataclass
class Vendor:
    """A loaded vendor: its configuration plus compiled dialog, messages and NLU."""

    config: VendorConfig
    dialog: Dialog
    messages: MessageCatalog
    nlu: NluParser
    source: str
    rasa: RasaHttpParser | None = None  # asked first when the vendor runs its own Rasa server
    settings: dict[str, Any] = field(default_factory=dict)  # the dialog's defaults under the vendor's values
    _listed: tuple[object, dict[str, bool]] = field(default_factory=lambda: (None, {}), repr=False)  # NLU, answers

    @property
    def id(self) -> str:
        return self.config.id

    def lists(self, product: Product) -> bool:
        """Whether the catalogue shows it: a product buyers can name, i.e. one the vendor's NLU reads as itself
        (the vendor file's, and any the vendor adds while selling); not one dropped from the file since, nor
        a service's bookable slot."""
        if "@" in product.code:
            return False
        if self._listed[0] is not self.nlu:  # taught new products: ask again
            self._listed = (self.nlu, {})
        known = self._listed[1]
        if product.code not in known:
            found = [e.get("value") for e in self.nlu.parse(product.code)["entities"] if e.get("entity") == "product"]
            known[product.code] = found[:1] == [product.code]
        return known[product.code]

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

    def _dialog(self, cfg: VendorConfig, path: Path, lines: dict[Any, int]) -> tuple[Dialog, str, Any]:
        """The compiled dialog, its wording's segment name and shipped wording; one per segment without overrides."""
        own = cfg.segment.endswith((".yaml", ".yml"))
        source = (path.parent / cfg.segment).resolve() if own else segment_path(cfg.segment)
        if own and not source.is_relative_to(path.parent.resolve()):
            # vendor files are untrusted: their dialog is read from their own folder, nowhere else
            raise YamlInvalid([YamlProblem(str(path), line_of(lines, ("segment",)),
                                           "segment: a dialog file must be in the vendor file's folder")])
        overrides = cfg.dialog.as_data()
        key = cfg.segment if not own and not overrides else f"{cfg.id}:{source}"
        if key not in self._dialogs:
            spec = compose_vendor_dialog(source, overrides, lines, str(path))
            try:
                self._dialogs[key] = Dialog(spec, self._registry)
            except ValueError as exc:
                hint = " — an operator registers more with PALABRE_ACTIONS or PALABRE_REMOTE_ACTIONS (docs/dialogs.md)"
                raise YamlInvalid([YamlProblem(str(path), line_of(lines, ("segment",)), f"{exc}{hint}")]) from None
            self._segment_messages[key] = dialog_messages(spec) if own else load_segment(cfg.segment)
        dialog = self._dialogs[key]
        return dialog, dialog.spec.name if own else cfg.segment, self._segment_messages[key]

    def load(self, path: str | Path) -> Vendor:
        path = Path(path)
        cfg, lines = read_vendor_file(path)
        dialog, segment, shipped = self._dialog(cfg, path, lines)
        declared = {**LiveSellerSettings.model_fields, **dialog.spec.settings}
        unknown = sorted(k for k in cfg.settings.model_dump(exclude_unset=True) if k not in declared)
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(declared), n=1)
            raise YamlInvalid([problem_at(str(path), lines, ("settings", unknown[0]),
                                          f"settings.{unknown[0]}: unknown setting for this dialog "
                                          f"(known: {', '.join(sorted(declared))})",
                                          f"did you mean `{close[0]}`?" if close else "")])
        settings = {**cfg.settings.model_dump(), **dialog.spec.settings, **cfg.settings.model_dump(exclude_unset=True)}
        shipped, overrides = _new_wording(shipped, cfg.messages, dialog.spec.names_used()[1])
        try:
            catalog = MessageCatalog(shipped, overrides, segment=segment, owner=cfg.id)
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
        return Vendor(config=cfg, dialog=dialog, messages=catalog, nlu=nlu, rasa=rasa, source=str(path),
                      settings=settings)

    def load_dir(self, directory: str | Path) -> dict[str, Vendor]:
        """Every vendor *.yaml / *.yml of a folder (its dialog and conversation-test files are skipped);
        all problems of all files are reported together."""
        files = sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")])
        return self.load_files([f for f in files if file_kind(f) == "vendor"])

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
        problems += _shared_meta_numbers(vendors)
        if problems:
            raise YamlInvalid(problems)
        return vendors


def _shared_meta_numbers(vendors: dict[str, Vendor]) -> list[YamlProblem]:
    """A WhatsApp number (Meta phone_number_id) listed by two vendors: the shared webhook could not route it."""
    owners: dict[str, Vendor] = {}
    problems: list[YamlProblem] = []
    for vendor in vendors.values():
        config = vendor.config.channels.get("meta")
        for number in config.phone_number_ids if config else []:
            if number in owners and owners[number] is not vendor:
                problems.append(YamlProblem(vendor.source, 1, f"channels.meta: phone number id {number} is "
                                            f"already listed by vendor '{owners[number].id}'"))
            owners.setdefault(number, vendor)
    return problems
