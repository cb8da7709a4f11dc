"""The optional Rasa backend: POST /model/parse, normalised to our shape, local parser on any failure."""

import re

import pytest
from aioresponses import aioresponses

from intents import CatalogueItem, NluParser
from intents.rasa_http import RasaHttpParser

URL = "http://rasa.test:5005"
PARSE = f"{URL}/model/parse"
PARSE_ANY = re.compile(r"^http://rasa\.test:5005/model/parse(\?.*)?$")

RASA_ANSWER = {
    "text": "jveu 2 sac2",
    "intent": {"name": "buy", "confidence": 0.97},
    "intent_ranking": [{"name": "buy", "confidence": 0.97}, {"name": "greeting", "confidence": 0.02}],
    "entities": [
        {"entity": "product", "value": "SAC2", "start": 7, "end": 11, "confidence_entity": 0.99,
         "extractor": "DIETClassifier"},
        {"entity": "quantity", "value": 2, "start": 5, "end": 6, "extractor": "RegexEntityExtractor"},
    ],
    "text_tokens": [[0, 4], [5, 6], [7, 11]],
}


@pytest.fixture(scope="module")
def local() -> NluParser:
    return NluParser([CatalogueItem("SAC2", "Sac en cuir")])


async def test_rasa_answer_in_our_shape(local: NluParser) -> None:
    with aioresponses() as mocked:
        mocked.post(PARSE, payload=RASA_ANSWER)
        async with RasaHttpParser(URL, fallback=local) as parser:
            result = await parser.parse("jveu 2 sac2")

        (key,) = mocked.requests
        (call,) = mocked.requests[key]
        assert call.kwargs["json"] == {"text": "jveu 2 sac2"}
    assert result == {
        "text": "jveu 2 sac2",
        "intent": {"name": "buy", "confidence": 0.97},
        "intent_ranking": [{"name": "buy", "confidence": 0.97}, {"name": "greet", "confidence": 0.02}],
        "entities": [
            {"entity": "product", "value": "SAC2", "start": 7, "end": 11, "confidence": 0.99,
             "extractor": "DIETClassifier"},
            {"entity": "quantity", "value": 2, "start": 5, "end": 6, "confidence": 1.0,
             "extractor": "RegexEntityExtractor"},
        ],
    }
    assert parser.calls == 1 and parser.failures == 0


async def test_nlu_fallback_is_out_of_scope(local: NluParser) -> None:
    answer = {"text": "zzz", "intent": {"name": "nlu_fallback", "confidence": 0.3}, "entities": []}
    with aioresponses() as mocked:
        mocked.post(PARSE, payload=answer)
        async with RasaHttpParser(URL, fallback=local) as parser:
            result = await parser.parse("zzz")

    assert result["intent"] == {"name": "out_of_scope", "confidence": 0.3}
    assert result["intent_ranking"] == [result["intent"]]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "body": "oops"},
        {"exception": TimeoutError()},
        {"status": 200, "body": "not json"},
        {"status": 200, "payload": {"unexpected": True}},
        {"status": 200, "payload": {"intent": {"name": None}}},
    ],
)
async def test_any_failure_falls_back_to_the_local_parser(local: NluParser, failure: dict) -> None:
    with aioresponses() as mocked:
        mocked.post(PARSE, **failure)
        async with RasaHttpParser(URL, timeout=0.2, fallback=local) as parser:
            result = await parser.parse("jveu 2 sac2")

    assert result == local.parse("jveu 2 sac2")
    assert parser.failures == 1


async def test_unreachable_server_without_fallback_is_out_of_scope() -> None:
    with aioresponses() as mocked:
        mocked.post(PARSE, exception=ConnectionRefusedError())
        mocked.post(PARSE, status=503)
        async with RasaHttpParser(URL) as parser:
            refused = await parser.parse("bonjour")
            unavailable = await parser.parse("bonjour")

    assert refused["intent"] == unavailable["intent"] == {"name": "out_of_scope", "confidence": 0.0}
    assert parser.failures == 2


async def test_a_timeout_is_a_timeout(local: NluParser) -> None:
    with aioresponses() as mocked:
        mocked.post(PARSE, payload=RASA_ANSWER, timeout=True)
        async with RasaHttpParser(URL, timeout=0.05, fallback=local) as parser:
            result = await parser.parse("jveu 2 sac2")

    assert result["entities"][0]["extractor"] == "rules"  # the local parser's


async def test_payloads_never_go_to_rasa() -> None:
    with aioresponses() as mocked:
        async with RasaHttpParser(URL) as parser:
            result = await parser.parse("PAYER", payload="pay")
            empty = await parser.parse("  ")

        assert not mocked.requests
    assert result["intent"] == {"name": "pay", "confidence": 1.0}
    assert empty["intent"] == {"name": "out_of_scope", "confidence": 0.0}


async def test_token_is_sent_as_rasa_expects() -> None:
    with aioresponses() as mocked:
        mocked.post(PARSE_ANY, payload=RASA_ANSWER)
        async with RasaHttpParser(URL + "/", token="s3cret") as parser:
            await parser.parse("jveu 2 sac2")

        ((method, url),) = mocked.requests
    assert method == "POST" and url.query["token"] == "s3cret"
