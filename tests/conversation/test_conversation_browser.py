"""The conversation in a real headless Chromium: the technician logs in to the console,
answers with a file, the mail goes out threaded, the customer replies by real SMTP, and the
customer's browser shows answer and reply in order on the status page. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import pytest

from shared.domain import events as ev
from tests.ack.helpers import wait_for_event
from tests.conversation.test_conversation_e2e import PASSWORD, Desk, a_ticket, desk  # noqa: F401
from tests.intake.test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium_or_skip
from tests.mail_in.mails import PNG, reply


@pytest.mark.browser
async def test_a_technician_answers_in_the_console_and_the_customer_sees_it(
        desk: Desk, tmp_path) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    executable = chromium_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    case = await a_ticket(desk, 4)
    manual = tmp_path / "Anleitung.txt"
    manual.write_text("1. Drucker aus\n2. Drucker an\n", encoding="utf-8")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable,
                                                   args=CHROMIUM_ARGS)
        try:
            technician = await browser.new_page(locale="de-DE")
            await technician.goto(f"{desk.base_url}/console/login")
            await technician.locator("#technician").fill("a.schmidt")
            await technician.locator("#password").fill(PASSWORD)
            await technician.get_by_role("button", name="Anmelden").click()
            await technician.wait_for_url(f"{desk.base_url}/console")
            await technician.goto(f"{desk.base_url}/console/tickets/{case}")
            await technician.locator("#message").fill("Bitte einmal aus- und einschalten.")
            await technician.locator("#files").set_input_files(str(manual))
            await technician.get_by_role("button", name="Antwort senden").click()
            await technician.wait_for_url(f"**/console/tickets/{case}")
            assert "Antwort erfasst" in await technician.locator(".flash").inner_text()
            await technician.screenshot(path=str(ARTIFACTS / "console-answer.png"),
                                        full_page=True)

            [answer] = await desk.mails_to_customer(1)
            assert [a.get_filename() for a in answer.iter_attachments()] == ["Anleitung.txt"]
            await wait_for_event(desk.store, case, ev.CustomerMailed)  # its id is evidence
            await desk.customer_replies(reply(f"AW: {answer['Subject']}",
                                              text="Hat geholfen, Foto anbei.",
                                              files=(("foto.png", "image/png", PNG),),
                                              In_Reply_To=answer["Message-ID"]))
            await wait_for_event(desk.store, case, ev.CustomerReplied)

            customer = await browser.new_page(locale="de-DE")
            await customer.goto(desk.base_url + (await desk.status_url(case)))
            history = customer.locator("ol.history > li")
            texts = await history.all_inner_texts()
            answered = next(i for i, t in enumerate(texts) if "Antwort von Anna" in t)
            replied = next(i for i, t in enumerate(texts) if "Hat geholfen" in t)
            assert answered < replied
            assert "Bitte einmal aus- und einschalten." in texts[answered]
            assert "Schmidt" not in " ".join(texts)
            await customer.get_by_role("link", name="Anleitung.txt").wait_for()
            await customer.get_by_role("link", name="foto.png").wait_for()
            await customer.screenshot(path=str(ARTIFACTS / "status-conversation.png"),
                                      full_page=True)
        finally:
            await browser.close()
