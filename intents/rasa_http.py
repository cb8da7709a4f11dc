"""An optional NLU backend for teams that already run Rasa: POST {url}/model/parse, local parser as fallback.

    parser = RasaHttpParser("http://rasa:5005", timeout=0.5, fallback=NluParser(catalogue))
    result = await parser.parse("jveu 2 sac2")     # Rasa's answer, or the local parser's on any failure
    await parser.close()

The result has the same shape as NluParser's: `text`, `intent{name, confidence}`, `intent_ranking`,
`entities[{entity, value, start, end, confidence, extractor}]` (Rasa's `confidence_entity` becomes
`confidence`; `greeting` and `nlu_fallback` become `greet` and `out_of_scope`). Button payloads never go
to Rasa: they are exact.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import aiohttp

from intents.lexicon import INTENT_ALIASES

log = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"


class LocalParser(Protocol):
    def parse(self, text: str | None, payload: str | None = None) -> dict[str, Any]: ...


class RasaHttpParser:
    def __init__(
        self,
        url: str,
        timeout: float = 1.0,
        *,
        fallback: LocalParser | None = None,
        token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.timeout = timeout
        self.fallback = fallback
        self._params = {"token": token} if token else None
        self._session = session
        self._own_session = session is None
        self._aliases = INTENT_ALIASES if aliases is None else aliases
        # Counters a caller may export as metrics.
        self.calls = 0
        self.failures = 0

    async def parse(self, text: str | None, payload: str | None = None) -> dict[str, Any]:
        if (payload is not None and payload.strip()) or text is None or not text.strip():
            return self._local(text, payload)
        self.calls += 1
        try:
            session = self._session_or_new()
            async with session.post(
                self.url,
                json={"text": text},
                params=self._params,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                response.raise_for_status()
                body = await response.json(content_type=None)
            return self._normalise(text, body)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, TypeError) as exc:
            self.failures += 1
            log.warning("Rasa parse failed (%s: %s): local parser used", type(exc).__name__, exc)
            return self._local(text, payload)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> RasaHttpParser:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    def _local(self, text: str | None, payload: str | None) -> dict[str, Any]:
        if self.fallback is not None:
            return self.fallback.parse(text, payload)
        if payload is not None and payload.strip():
            name, confidence = payload.strip().lower(), 1.0
            text = payload
        else:
            name, confidence = OUT_OF_SCOPE, 0.0
        return {
            "text": text or "",
            "intent": {"name": name, "confidence": confidence},
            "intent_ranking": [{"name": name, "confidence": confidence}],
            "entities": [],
        }

    def _normalise(self, text: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("intent"), dict):
            raise ValueError("not a Rasa parse result")
        intent = body["intent"]
        name = intent.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("Rasa returned no intent name")
        ranking = [
            {"name": self._aliases.get(item["name"], item["name"]), "confidence": float(item.get("confidence", 0.0))}
            for item in body.get("intent_ranking") or ()
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]
        top = {"name": self._aliases.get(name, name), "confidence": float(intent.get("confidence", 0.0))}
        entities = []
        for entity in body.get("entities") or ():
            if not isinstance(entity, dict) or "entity" not in entity or "value" not in entity:
                continue
            entities.append({
                "entity": entity["entity"],
                "value": entity["value"],
                "start": entity.get("start"),
                "end": entity.get("end"),
                "confidence": float(entity.get("confidence_entity", entity.get("confidence", 1.0)) or 0.0),
                "extractor": entity.get("extractor", "rasa"),
            })
        return {
            "text": body.get("text", text),
            "intent": top,
            "intent_ranking": ranking or [top],
            "entities": entities,
        }
