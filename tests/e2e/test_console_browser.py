"""The web console in a real browser: Debian's chromium, headless, driven by Selenium through Debian's
chromium-driver (both named by path, so that nothing is downloaded). An operator logs in, launches an instance from
the form, watches its row reach `running` without the page reloading, stops it the same way, finds the events in the
audit page, and logs out; runs a script with a secret input on an instance launched from a template and watches its
output arrive and the run end without a reload, then on two instances chosen in the list. The module's platform has
SimCloud guests that answer SSH (a real OpenSSH server), so runs really run. Every page is kept as a screenshot under
`.run/artifacts/console/`; the browser's console must show no Content-Security-Policy violation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.e2e.console_kit import CONSOLE, add_members
from tests.e2e.platform import Platform, wait_for_state
from tests.e2e.tenants import PASSWORD

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".run" / "artifacts" / "console"


@pytest.fixture(scope="module")
def platform(ssh_platform: Platform) -> Platform:
    return ssh_platform


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


class Visit:
    """The browser on the console, keeping a screenshot of every page it shows."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver, self.base = driver, base
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def log_in(self, email: str, password: str = PASSWORD) -> None:
        """Sign in through the console's login page, which the console sends a visitor to, and land on instances."""
        self.open(CONSOLE)
        self.wait("the login page", lambda d: d.current_url.endswith(f"{CONSOLE}/login"))
        self.driver.find_element(By.ID, "field-username").send_keys(email)
        self.driver.find_element(By.ID, "field-password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait("the instances page", lambda d: d.current_url.endswith(f"{CONSOLE}/instances"))

    def fill(self, form_id: str, fields: dict[str, str]) -> None:
        """Type each value into its field of the form `form_id` (a select: choose that option)."""
        form = self.driver.find_element(By.ID, form_id)
        for field, value in fields.items():
            element = form.find_element(By.ID, f"field-{field}")
            if element.tag_name == "select":
                element.find_element(By.CSS_SELECTOR, f"option[value='{value}']").click()
            else:
                element.clear()
                element.send_keys(value)

    def submit(self, form_id: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def wait(self, what: str, condition: Callable[[Any], Any], within: float = 20.0) -> Any:
        # An element read as htmx swaps it is stale: the condition is asked again.
        waiting = WebDriverWait(
            self.driver, within, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        )
        return waiting.until(condition, message=what)

    def row_state(self, instance_id: str) -> str | None:
        try:
            return self.driver.find_element(By.ID, f"instance-{instance_id}").get_attribute("data-state")
        except StaleElementReferenceException:
            return None  # swapped as it was read

    def csp_violations(self) -> list[str]:
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [e["message"] for e in entries if "Content Security Policy" in e["message"]]


def still_there(element: WebElement) -> bool:
    """Whether the page `element` was found in is still the one shown (a reload makes it stale)."""
    try:
        element.tag_name  # noqa: B018 - reading it is the check
        return True
    except StaleElementReferenceException:
        return False


def test_an_operator_launches_watches_stops_audits_and_logs_out(platform: Platform, browser: webdriver.Chrome) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    visit = Visit(browser, platform.gateway_url)
    name = f"web-{uuid.uuid4().hex[:6]}"

    visit.open(CONSOLE)
    visit.wait("the login page", lambda d: d.current_url.endswith(f"{CONSOLE}/login"))
    visit.shot("login")
    browser.find_element(By.ID, "field-username").send_keys(members["operator"].email)
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    visit.wait("the instances page", lambda d: d.current_url.endswith(f"{CONSOLE}/instances"))
    visit.shot("instances-empty")

    browser.find_element(By.LINK_TEXT, "Launch an instance").click()
    visit.wait("the launch form", lambda d: d.find_elements(By.ID, "field-image_id"))
    browser.find_element(By.ID, "field-name").send_keys(name)
    Select(browser.find_element(By.ID, "field-cloud_id")).select_by_value("sim")
    visit.wait(
        "the catalogue", lambda d: d.find_elements(By.CSS_SELECTOR, "#field-image_id option[value=img-debian-12]")
    )
    Select(browser.find_element(By.ID, "field-image_id")).select_by_value("img-debian-12")
    Select(browser.find_element(By.ID, "field-flavor_id")).select_by_value("sim.small")
    visit.shot("launch")
    browser.find_element(By.ID, "field-name").submit()

    row = visit.wait("the new instance's row", lambda d: d.find_elements(By.XPATH, f"//tr[th/a[text()='{name}']]"))
    instance_id = str(row[0].get_attribute("id")).removeprefix("instance-")
    page = browser.find_element(By.TAG_NAME, "main")
    visit.wait("running", lambda d: visit.row_state(instance_id) == "running")
    assert still_there(page), "the page was reloaded"
    visit.shot("instances-running")

    browser.find_element(By.ID, f"act-stop-{instance_id}").click()
    visit.wait("stopped", lambda d: visit.row_state(instance_id) == "stopped")
    assert still_there(page), "the page was reloaded"
    visit.shot("instances-stopped")

    browser.find_element(By.LINK_TEXT, name).click()
    visit.wait("the instance's page", lambda d: d.current_url.endswith(f"/instances/{instance_id}"))
    visit.shot("instance")

    visit.open(f"{CONSOLE}/audit?resource_id={instance_id}&order=asc")
    events = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "table.events tbody th")]
    assert events[:3] == ["instance.requested", "instance.launched", "instance.running"], events
    assert "instance.stopped" in events
    visit.shot("audit")
    # The launch's correlation id leads to every event of that one request.
    browser.find_element(By.CSS_SELECTOR, "table.events tbody td a[aria-label^='Events of request']").click()
    visit.wait("the request's events", lambda d: "correlation_id=" in d.current_url)
    assert "instance.requested" in browser.page_source

    for page_name in ("volumes", "snapshots", "addresses", "key-pairs", "security-groups", "clouds", "members",
                      "api-keys"):  # fmt: skip
        visit.open(f"{CONSOLE}/{page_name}")
        assert browser.find_element(By.TAG_NAME, "h1").text
        visit.shot(page_name)

    # A key pair made in the console: its private key is offered this once, as a download.
    visit.open(f"{CONSOLE}/key-pairs")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.ID, "field-name").send_keys(f"deploy-{name}")
    browser.find_element(By.ID, "field-name").submit()
    link = visit.wait("the key's download", lambda d: d.find_elements(By.PARTIAL_LINK_TEXT, "Download"))
    assert link[0].get_attribute("download") == f"deploy-{name}.pem"
    assert "PRIVATE KEY" in (browser.find_element(By.ID, "private-key").get_attribute("value") or "")
    visit.shot("key-pair-created")
    visit.open(f"{CONSOLE}/key-pairs")
    assert not browser.find_elements(By.ID, "private-key")

    assert visit.csp_violations() == []
    browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
    visit.wait("the login page", lambda d: "logged out" in d.page_source)
    visit.shot("logged-out")
    visit.open(f"{CONSOLE}/instances")
    visit.wait("sent to the login", lambda d: d.current_url.endswith(f"{CONSOLE}/login"))


def test_an_operator_makes_a_template_and_launches_from_its_generated_form(
    platform: Platform, browser: webdriver.Chrome
) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    visit = Visit(browser, platform.gateway_url)
    tag = uuid.uuid4().hex[:6]
    visit.log_in(members["operator"].email)

    # A script, its inputs declared as YAML.
    browser.find_element(By.LINK_TEXT, "Scripts").click()
    visit.wait("the scripts page", lambda d: d.current_url.endswith(f"{CONSOLE}/scripts"))
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.ID, "field-name").send_keys(f"configure-{tag}")
    body = browser.find_element(By.ID, "field-body")
    body.clear()
    body.send_keys("#!/bin/sh\necho configured {{ site }} size {{ size }} debug {{ debug }}\n: '{{ password }}'\n")
    browser.find_element(By.ID, "field-inputs").send_keys(
        "- {name: site, type: text, pattern: '[a-z.]+'}\n"
        "- {name: size, type: number, minimum: 1, maximum: 8, default: 1}\n"
        "- {name: debug, type: boolean, default: false}\n"
        "- {name: tier, type: choice, choices: [small, large], default: small}\n"
        "- {name: password, type: secret, required: true}\n"
    )
    visit.shot("scripts")
    browser.find_element(By.ID, "field-name").submit()
    visit.wait("the script's page", lambda d: "/scripts/" in d.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "#version-1 td").text == "boot"
    visit.shot("script")

    # A template that runs it on SimCloud, with a value for one of its inputs.
    browser.find_element(By.LINK_TEXT, "Templates").click()
    visit.wait("the templates page", lambda d: d.current_url.endswith(f"{CONSOLE}/templates"))
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.ID, "field-name").send_keys(f"web-{tag}")
    Select(browser.find_element(By.ID, "field-cloud_id")).select_by_value("sim")
    visit.wait(
        "the catalogue", lambda d: d.find_elements(By.CSS_SELECTOR, "#field-image_id option[value=img-debian-12]")
    )
    Select(browser.find_element(By.ID, "field-image_id")).select_by_value("img-debian-12")
    Select(browser.find_element(By.ID, "field-flavor_id")).select_by_value("sim.small")
    Select(browser.find_element(By.ID, "field-boot_scripts")).select_by_visible_text(f"configure-{tag}")
    browser.find_element(By.ID, "field-values").send_keys("site: shop.example.org\n")
    visit.shot("templates")
    browser.find_element(By.ID, "field-name").submit()
    visit.wait("the template's page", lambda d: "/templates/" in d.current_url)
    assert "(default)" in browser.find_element(By.CSS_SELECTOR, "#version-1 th").text
    visit.shot("template")

    # The launch form: one field per input, made from its type; the API's refusal marked on its field.
    browser.find_element(By.LINK_TEXT, "Launch from this template").click()
    visit.wait("the launch form", lambda d: d.find_elements(By.ID, "field-input-size"))
    kinds = {
        e.get_attribute("name"): (e.tag_name, e.get_attribute("type"))
        for e in browser.find_elements(By.CSS_SELECTOR, "#inputs input, #inputs select")
    }
    assert kinds == {
        "input-site": ("input", "text"),
        "input-size": ("input", "number"),
        "input-debug": ("input", "checkbox"),
        "input-tier": ("select", "select-one"),
        "input-password": ("input", "password"),
    }
    assert browser.find_element(By.ID, "field-input-password").get_attribute("required") == "true"
    assert browser.find_element(By.ID, "field-input-site").get_attribute("placeholder") == "shop.example.org"
    name = f"tpl-{tag}"
    browser.find_element(By.ID, "field-name").send_keys(name)
    browser.find_element(By.ID, "field-input-size").send_keys("99")
    browser.find_element(By.ID, "field-input-password").send_keys("browser-Secret-0123")
    visit.shot("template-launch")
    browser.find_element(By.ID, "field-name").submit()
    marked = visit.wait("the refusal", lambda d: d.find_elements(By.ID, "error-input-size"))
    assert marked[0].text == "must be at most 8"
    assert browser.find_element(By.ID, "field-input-size").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "field-input-password").get_attribute("value") == ""
    assert browser.find_element(By.ID, "field-name").get_attribute("value") == name
    visit.shot("template-launch-refused")

    size = browser.find_element(By.ID, "field-input-size")
    size.clear()
    size.send_keys("3")
    browser.find_element(By.ID, "field-input-debug").click()
    Select(browser.find_element(By.ID, "field-input-tier")).select_by_value("large")
    browser.find_element(By.ID, "field-input-password").send_keys("browser-Secret-0123")
    browser.find_element(By.ID, "field-name").submit()
    visit.wait("the instance's page", lambda d: "/instances/" in d.current_url and "/templates/" not in d.current_url)
    instance_id = browser.current_url.rsplit("/", 1)[1]
    visit.wait("running", lambda d: visit.row_state(instance_id) == "running")
    visit.shot("instance-from-template")
    assert visit.csp_violations() == []

    async def launched() -> dict[str, Any]:
        async with platform.client() as admin:
            found: dict[str, Any] = (await admin.get(f"/v1/instances/{instance_id}")).json()
            return found

    instance = asyncio.run(launched())
    assert instance["inputs"] == {
        "site": {"value": "shop.example.org", "level": "template", "type": "text"},
        "size": {"value": 3, "level": "server", "type": "number"},
        "debug": {"value": True, "level": "server", "type": "boolean"},
        "tier": {"value": "large", "level": "server", "type": "choice"},
        "password": {"value": "********", "level": "server", "type": "secret"},
    }


def test_an_admin_sets_up_a_team_with_its_cloud_and_a_key_for_its_ci(
    platform: Platform, browser: webdriver.Chrome
) -> None:
    tag = uuid.uuid4().hex[:6]
    project, ana = f"web-{tag}", f"ana-{tag}@example.com"
    asyncio.run(an_admin(platform, f"admin-{tag}@example.com"))
    visit = Visit(browser, platform.gateway_url)

    def submit(fields: dict[str, str], button: str) -> None:
        for field, value in fields.items():
            found = browser.find_element(By.ID, f"field-{field}")
            found.clear()
            found.send_keys(value)
        browser.find_element(By.XPATH, f"//button[text()='{button}']").click()

    visit.open(f"{CONSOLE}/login")
    submit({"username": f"admin-{tag}@example.com", "password": PASSWORD}, "Log in")
    visit.wait("the instances page", lambda d: d.current_url.endswith(f"{CONSOLE}/instances"))

    # A project; a wrong id first, its field marked with the API's message.
    visit.open(f"{CONSOLE}/projects")
    submit({"id": "Web Team", "name": f"Web team {tag}"}, "Create project")
    bad = visit.wait("the id refused", lambda d: d.find_elements(By.CSS_SELECTOR, "#field-id[aria-invalid=true]"))
    assert bad[0].get_attribute("aria-describedby") == "error-id"
    submit({"id": project, "name": f"Web team {tag}"}, "Create project")
    visit.wait("the project made", lambda d: d.find_elements(By.XPATH, f"//td/code[text()='{project}']"))
    visit.shot("team-project")

    # A user, with a password that goes to the API and never comes back.
    visit.open(f"{CONSOLE}/users")
    submit({"email": ana, "name": "Ana", "password": "a long passphrase"}, "Create user")
    user_id = visit.wait("the user made", lambda d: d.find_elements(By.ID, "new-user-id"))[0].text
    assert "a long passphrase" not in browser.page_source
    visit.shot("team-user")

    # Work in the new project, and make Ana its owner.
    visit.open(f"{CONSOLE}/projects")
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Work in Web team {tag}']").click()
    visit.wait("its members", lambda d: d.current_url.endswith(f"{CONSOLE}/members"))
    assert Select(browser.find_element(By.ID, "project-switch")).first_selected_option.get_attribute("value") == project
    Select(browser.find_element(By.ID, "field-role")).select_by_value("owner")
    submit({"user_id": user_id}, "Save")
    row = visit.wait("Ana a member", lambda d: d.find_elements(By.XPATH, f"//tr[th[text()='{ana}']]"))
    assert "owner" in row[0].text
    visit.shot("team-members")

    # Its cloud account: the connection test shown when it is added, and again on request.
    visit.open(f"{CONSOLE}/clouds")
    Select(browser.find_element(By.ID, "field-driver")).select_by_value("simcloud")
    submit({"name": "sim", "config": '{"boot_seconds": 1}'}, "Test and add")
    tested = visit.wait("the test shown", lambda d: d.find_elements(By.ID, "cloud-test"))
    assert "passed in" in tested[0].text and "(regions listed: 1)" in tested[0].text, tested[0].text
    visit.shot("team-cloud-added")
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Test the connection of sim']").click()
    visit.wait("tested again", lambda d: "passed in" in d.find_element(By.ID, "cloud-test").text)
    visit.shot("team-cloud-tested")

    # A key for its CI, shown this once.
    visit.open(f"{CONSOLE}/api-keys")
    Select(browser.find_element(By.ID, "field-role")).select_by_value("operator")
    submit({"name": "ci", "expires_in_days": "30"}, "Create")
    key = visit.wait("the key shown", lambda d: d.find_elements(By.ID, "new-key"))[0].get_attribute("value") or ""
    visit.shot("team-api-key")
    visit.open(f"{CONSOLE}/api-keys")
    assert not browser.find_elements(By.ID, "new-key") and key not in browser.page_source
    assert asyncio.run(whoami(platform, key)) == (project, "operator")
    assert visit.csp_violations() == []


async def an_admin(platform: Platform, email: str) -> None:
    async with platform.client() as admin:
        body = {"email": email, "name": "Admin", "password": PASSWORD, "admin": True}
        assert (await admin.post("/v1/users", json=body)).status_code == 201


async def whoami(platform: Platform, key: str) -> tuple[str, str]:
    async with platform.client(token=key) as ci:
        me = (await ci.get("/v1/me")).json()
    return me["project_id"], me["role"]


SECRET = "console-Run-Secret-0123"
# Steps of the run script the console follows (half a second each).
STEPS = 16


async def _runnable(platform: Platform, tag: str) -> tuple[str, str, str]:
    """A template on `sim` with a boot script, an operational script that prints what it is given (some of it
    looking like HTML) and a line every half second for a few seconds, and one instance launched from the template,
    running."""
    async with platform.client() as admin:
        boot = {"name": f"boot-{tag}", "body": "#!/bin/sh\necho booted\n"}
        boot_id = (await admin.post("/v1/scripts", json=boot)).json()["script_id"]
        template = {
            "name": f"runnable-{tag}",
            "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
            "boot_scripts": [{"script_id": boot_id}],
        }
        made = await admin.post("/v1/templates", json=template)
        assert made.status_code == 201, made.text
        deploy = {
            "name": f"deploy-{tag}",
            "phase": "operational",
            "timeout_seconds": 30,
            "body": "#!/bin/sh\necho 'deploying {{ release }} <b>now</b>'\necho 'token={{ token }}'\n"
            "i=0\nwhile [ $i -lt {{ steps }} ]; do echo step $i; i=$((i+1)); sleep 0.5; done\necho done\n"
            "exit {{ code }}\n",
            "inputs": [
                {"name": "release", "type": "text", "required": True},
                {"name": "token", "type": "secret", "required": True},
                {"name": "steps", "type": "number", "default": 0, "minimum": 0, "maximum": 20},
                {"name": "code", "type": "number", "default": 0},
            ],
        }
        script = await admin.post("/v1/scripts", json=deploy)
        assert script.status_code == 201, script.text
        body = {"name": f"second-{tag}", "cloud_id": "sim", "template_id": made.json()["template_id"]}
        launched = await admin.post("/v1/instances", json=body)
        assert launched.status_code == 202, launched.text
        second = launched.json()["id"]
        await wait_for_state(admin, second, "running")
    return made.json()["template_id"], script.json()["script_id"], second


def test_an_operator_runs_a_script_and_watches_its_output_arrive(platform: Platform, browser: webdriver.Chrome) -> None:
    tag = uuid.uuid4().hex[:6]
    members = asyncio.run(add_members(platform, tag))
    template_id, script_id, second = asyncio.run(_runnable(platform, tag))
    visit = Visit(browser, platform.gateway_url)
    visit.log_in(members["operator"].email)

    # An instance launched from the template, which lets runs in by itself.
    visit.open(f"{CONSOLE}/templates/{template_id}/launch")
    browser.find_element(By.ID, "field-name").send_keys(f"runs-{tag}")
    browser.find_element(By.ID, "field-name").submit()
    visit.wait("the instance's page", lambda d: "/instances/" in d.current_url and "/templates/" not in d.current_url)
    instance_id = browser.current_url.rsplit("/", 1)[1]
    visit.wait("running", lambda d: visit.row_state(instance_id) == "running")
    visit.open(f"{CONSOLE}/instances/{instance_id}")
    browser.find_element(By.ID, "run-a-script").click()

    # The form: the script chosen, its inputs swapped in, one field per input made from its type.
    Select(visit.wait("the run form", lambda d: d.find_elements(By.ID, "field-script_id"))[0]).select_by_value(
        script_id
    )
    visit.wait("its inputs", lambda d: d.find_elements(By.ID, "field-input-token"))
    kinds = {
        e.get_attribute("name"): e.get_attribute("type")
        for e in browser.find_elements(By.CSS_SELECTOR, "#inputs input")
    }
    assert kinds == {
        "input-release": "text",
        "input-token": "password",
        "input-steps": "number",
        "input-code": "number",
    }
    browser.find_element(By.ID, "field-input-release").send_keys("v42")
    # Half a second a step: long enough for the first lines to be seen while it runs on a busy machine.
    browser.find_element(By.ID, "field-input-steps").send_keys(str(STEPS))
    visit.shot("run-form")
    # The secret left out: the API's refusal marked on its field.
    browser.find_element(By.ID, "field-input-release").submit()
    marked = visit.wait("the refusal", lambda d: d.find_elements(By.ID, "error-input-token"))
    assert marked[0].text and browser.find_element(By.ID, "field-input-token").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "field-input-release").get_attribute("value") == "v42"
    visit.shot("run-form-refused")
    browser.find_element(By.ID, "field-input-token").send_keys(SECRET)
    browser.find_element(By.ID, "field-input-release").submit()

    # The run's page: the first line arrives while the script still runs, then the rest, without a reload.
    visit.wait("the run's page", lambda d: "/runs/" in d.current_url)
    page = browser.find_element(By.TAG_NAME, "main")

    def facts() -> str | None:
        try:
            return browser.find_element(By.ID, "run-facts").get_attribute("data-state")
        except StaleElementReferenceException:
            return None

    def output() -> str:
        return browser.find_element(By.ID, "output").text

    visit.wait("the first lines while it runs", lambda d: "deploying v42" in output() and facts() == "running")
    assert "done" not in output()
    visit.shot("run-running")
    visit.wait(
        "succeeded", lambda d: facts() == "succeeded" and d.find_elements(By.CSS_SELECTOR, "#run-follow[data-ended]")
    )
    assert still_there(page), "the page was reloaded"
    shown = output()
    steps = [f"step {n}" for n in range(STEPS)]
    assert shown.splitlines() == ["deploying v42 <b>now</b>", "token=********", *steps, "done"], shown
    assert not browser.find_elements(By.CSS_SELECTOR, "#output b") and SECRET not in browser.page_source
    assert browser.find_element(By.ID, "run-exit-code").text == "0"
    visit.shot("run-succeeded")
    browser.refresh()
    assert output() == shown and facts() == "succeeded"

    # A failing run: its state and exit code.
    visit.open(f"{CONSOLE}/instances/{instance_id}/run?script_id={script_id}")
    browser.find_element(By.ID, "field-input-release").send_keys("v43")
    browser.find_element(By.ID, "field-input-token").send_keys(SECRET)
    browser.find_element(By.ID, "field-input-code").send_keys("3")
    browser.find_element(By.ID, "field-input-release").submit()
    visit.wait("the run's page", lambda d: "/runs/" in d.current_url)
    visit.wait("failed", lambda d: facts() == "failed")
    assert browser.find_element(By.ID, "run-exit-code").text == "3"
    visit.shot("run-failed")
    visit.open(f"{CONSOLE}/instances/{instance_id}")
    states = [e.get_attribute("data-state") for e in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
    assert states == ["failed", "succeeded"]
    visit.shot("instance-runs")

    # Two instances chosen in the list, one at a time: the batch's rows follow their runs.
    visit.open(f"{CONSOLE}/instances?state=running&name=")
    for chosen in (instance_id, second):
        browser.find_element(By.ID, f"pick-{chosen}").click()
    browser.find_element(By.ID, "run-on-selected").click()
    Select(visit.wait("the bulk form", lambda d: d.find_elements(By.ID, "field-script_id"))[0]).select_by_value(
        script_id
    )
    visit.wait("its inputs", lambda d: d.find_elements(By.ID, "field-input-token"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chosen-instances li")) == 2
    browser.find_element(By.ID, "field-input-release").send_keys("v44")
    browser.find_element(By.ID, "field-input-token").send_keys(SECRET)
    concurrency = browser.find_element(By.ID, "field-concurrency")
    concurrency.clear()
    concurrency.send_keys("1")
    visit.shot("run-bulk-form")
    concurrency.submit()
    visit.wait("the batch's runs", lambda d: "batch_id=" in d.current_url)
    page = browser.find_element(By.TAG_NAME, "main")

    def batch_states() -> list[str]:
        try:
            return [
                str(e.get_attribute("data-state")) for e in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
            ]
        except StaleElementReferenceException:
            return []

    visit.wait("both succeeded", lambda d: batch_states() == ["succeeded", "succeeded"], within=30)
    assert still_there(page), "the page was reloaded"
    visit.shot("run-batch")
    assert SECRET not in browser.page_source
    visit.open(f"{CONSOLE}/runs")
    visit.shot("runs")
    assert visit.csp_violations() == []
