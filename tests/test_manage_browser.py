"""A real browser on a manage link (API.md, "Manage links"): Debian's chromium, driven by Selenium through
chromium-driver, against `make run`'s local stack. A link printed with a message opens the page in the
recipient's language; a click moves the appointment to an offered time, another cancels it, and the API
shows each change.

`make test` installs chromium and chromium-driver with apt when it runs as root (CI does); elsewhere this test
is skipped, saying how to install them. ``UPDATE_SCREENSHOT=1`` saves the page to docs/manage-page.png.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import ROOT
from test_local_stack import ISO, LocalStack, stop_and_check_nothing_is_left

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT = ROOT / "docs" / "manage-page.png"


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("the browser test needs Debian's chromium and chromium-driver: sudo apt-get install chromium "
                    "chromium-driver (make test installs them when it runs as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=820,900",
                     "--lang=en-US"):  # the browser's language is not the page's: the recipient's is
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def submit(browser, button) -> None:
    """Click a form's button and wait for the answer's page to replace this one."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    button.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(button))


def test_a_printed_link_opens_the_page_in_the_recipients_language_moves_and_cancels(browser, tmp_path):
    from selenium.webdriver.common.by import By

    stack = LocalStack()
    try:
        assert stack.request("PUT", "/calendars/alice/contact", {
            "name": "Alice", "email": "alice@example.com", "locale": "de-DE", "timeZone": "Europe/Berlin",
            "channels": ["email"]})[0] == 200
        week = {day: [{"start": "09:00", "end": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        assert stack.request("PUT", "/calendars/dr-smith/availability",
                             {"timeZone": "Europe/Berlin", "weekly": week})[0] == 200
        berlin = ZoneInfo("Europe/Berlin")
        tomorrow = (datetime.now(berlin) + timedelta(days=1)).date()
        start = datetime.combine(tomorrow, time(10), berlin).astimezone(UTC)
        status, booked = stack.request("POST", "/appointments", {
            "userId": "alice", "startTime": start.strftime(ISO), "endTime": (start + timedelta(hours=1)).strftime(ISO),
            "participants": ["dr-smith"], "details": {"title": "Zahnreinigung <Praxis 2>", "location": "Praxis 2"}})
        assert status == 201
        line = stack.wait_for(f"manage link: http://127.0.0.1:{stack.port}/manage/", timeout=60)
        link = re.search(r"http://\S+/manage/\S+", line).group(0)

        browser.get(link)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
        assert browser.find_element(By.TAG_NAME, "h1").text == "Ihr Termin"
        assert browser.find_element(By.ID, "appointment-title").text == "Zahnreinigung <Praxis 2>"  # as text
        assert "Mitteleuropäische" in browser.find_element(By.ID, "when").text
        browser.save_screenshot(str(SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "page.png"))

        times = browser.find_elements(By.CSS_SELECTOR, "form.slots button[name=startTime]")
        assert len(times) >= 2
        offered = [datetime.strptime(t.get_attribute("value"), ISO).replace(tzinfo=UTC).astimezone(berlin)
                   for t in times]
        assert all(time(9) <= t.time() <= time(16) for t in offered)  # dr-smith's hours, an hour long each
        target = times[1].get_attribute("value")
        submit(browser, times[1])
        assert "Erledigt" in browser.find_element(By.ID, "notice").text
        assert stack.request("GET", f"/appointments/{booked['appointmentId']}")[1]["startTime"] == target

        submit(browser, browser.find_element(By.ID, "cancel"))
        assert "abgesagt" in browser.find_element(By.ID, "notice").text
        assert browser.find_elements(By.ID, "cancel") == []
        after = stack.request("GET", f"/appointments/{booked['appointmentId']}")[1]
        assert (after["status"], after["startTime"]) == ("cancelled", target)
        assert not browser.get_cookies()
    finally:
        stop_and_check_nothing_is_left(stack, signal.SIGINT, within=10)
