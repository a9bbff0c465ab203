"""End to end in a real headless Chromium: the German form, the confirmation page with the
case number, the live status page. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from shared.domain.casenumber import is_valid_case_number
from tests.intake.conftest import Intake

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def chromium_or_skip() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (Debian package `chromium`)")
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    return executable


@pytest.mark.browser
async def test_a_customer_fills_in_the_german_form_and_follows_the_status_link(
        intake: Intake) -> None:
    from playwright.async_api import async_playwright

    executable = chromium_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable,
                                                   args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="de-DE")
            await page.goto(f"{intake.base_url}/")
            assert await page.title() == "Support anfordern"
            for name, value in (("company", "Muster GmbH"), ("first_name", "Erika"),
                                ("last_name", "Mustermann"), ("email", "erika@muster.de"),
                                ("phone", "+49 30 123456"), ("street", "Hauptstraße 5"),
                                ("postcode", "10115"), ("city", "Berlin"),
                                ("short_description", "Drucker druckt nicht"),
                                ("error_message", "Fehler 0x61011beb")):
                await page.locator(f"#f-{name}").fill(value)
            # Labels are tied to their fields (the accessible name includes the label).
            assert await page.get_by_label("Kurzbeschreibung").input_value() == \
                "Drucker druckt nicht"
            await page.locator("#f-additional_backup").check()
            await page.locator("#f-backup_acknowledged").check()
            await page.locator("#f-priority_acknowledged").check()
            await page.locator("#f-commercial_customer").check()
            await page.get_by_role("button", name="Supportauftrag absenden").click()
            await page.wait_for_url("**/confirmation/**")
            number = (await page.locator("#case-number").inner_text()).strip()
            assert is_valid_case_number(number)
            assert "Vielen Dank" in await page.locator("h1").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "intake-confirmation.png"), full_page=True)
            await page.locator("#status-link").click()
            await page.wait_for_url(f"**/status/{number}?t=*")
            assert (await page.locator("#case-number").inner_text()).strip() == number
            assert "offen" in await page.locator("#state").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "intake-status.png"), full_page=True)
        finally:
            await browser.close()
