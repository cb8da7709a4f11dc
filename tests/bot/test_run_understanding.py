"""What `make run` serves: with `palabre[nlu]` installed, the sentence encoder answers the messages the rules miss."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.bot.test_shell import CONTACT, Proc, spawn
from tests.conftest import ROOT

# Not a training text; the rules and n-grams read it out_of_scope (0.57), the encoder help.
UNSURE = "dis moi ce que tu sais faire"


async def shell_reply(env: dict[str, str], tmp_path: Path, encoder: str) -> str:
    script = tmp_path / f"script-{encoder}.txt"
    script.write_text(UNSURE + "\n")
    with script.open("rb") as stdin:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "shell", "--contact", CONTACT, cwd=ROOT,
            env={**env, "PALABRE_NLU_SECOND_OPINION": encoder, "PALABRE_DATA_DIR": str(tmp_path / encoder)},
            stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    shell = Proc(proc)
    try:
        assert await shell.wait(90) == 0, shell.out
    finally:
        await shell.stop()
    return shell.out


async def test_a_buyer_asking_what_the_bot_can_do_gets_the_help_the_rules_alone_would_miss(
        demo_env: dict[str, str], tmp_path: Path) -> None:
    with_encoder = await shell_reply(demo_env, tmp_path, "on")
    assert "Comment acheter" in with_encoder and "pas compris" not in with_encoder
    without = await shell_reply(demo_env, tmp_path, "off")
    assert f"Je n'ai pas compris « {UNSURE} »" in without


async def test_palabre_run_says_which_parser_answers_buyers(demo_env: dict[str, str]) -> None:
    for setting, expected in (("on", "rules, n-grams and the sentence encoder"),
                              ("off", "the sentence encoder is installed but off")):
        server = await spawn({**demo_env, "PALABRE_NLU_SECOND_OPINION": setting}, "run")
        try:
            async def banner(server: Proc = server) -> None:
                while "understanding buyers:" not in server.out:
                    assert server.proc.returncode is None, server.out
                    await asyncio.sleep(0.1)
            await asyncio.wait_for(banner(), 60)
            await asyncio.sleep(0.2)
            assert expected in server.out, server.out
        finally:
            await server.stop()
