"""The web console's defences, checked over HTTP as an attacker would try them: its security headers on every page,
state-changing requests refused unless they come from the console's own page, the session cookie's flags, a viewer
given no action and refused by the API when it forges one, and a logout that ends the login everywhere; and the script
run pages: guarded the same way, another project's run not found, and a secret input in no page."""

from __future__ import annotations

import html
import re
import uuid
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest

from tests.e2e.console_kit import CONSOLE, Member, add_members, browser, csrf_of, log_in, logged_in
from tests.e2e.platform import Platform, eventually, wait_for_state
from tests.e2e.tenants import PASSWORD, login, user_in

pytestmark = pytest.mark.e2e

LAUNCH = {"name": "", "cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}


@pytest.fixture(scope="module")
def platform(ssh_platform: Platform) -> Platform:
    """SimCloud guests that answer SSH (a real OpenSSH server), so that the console's runs really run."""
    return ssh_platform


@pytest.fixture(scope="module")
async def members(platform: Platform) -> dict[str, Member]:
    return await add_members(platform, uuid.uuid4().hex[:8])


def assert_secured(answer: httpx.Response) -> None:
    csp = answer.headers.get("content-security-policy", "")
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in csp.split(";")}
    assert directives["default-src"] == "default-src 'self'", csp
    assert directives["script-src"] == "script-src 'self'" and directives["style-src"] == "style-src 'self'", csp
    assert directives["frame-ancestors"] == "frame-ancestors 'none'", csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"


async def secured_pages(client: httpx.AsyncClient, paths: tuple[str, ...]) -> list[httpx.Response]:
    """Each console page at `paths`, shown (200) with the security headers and no inline script or style in the
    page itself: only the console's own files."""
    answers = []
    for path in paths:
        answer = await client.get(CONSOLE + path)
        assert answer.status_code == 200, (path, answer.text)
        assert_secured(answer)
        assert "<script>" not in answer.text and "style=" not in answer.text and "<style" not in answer.text
        answers.append(answer)
    return answers


async def test_every_console_answer_carries_the_security_headers(
    platform: Platform, members: dict[str, Member]
) -> None:
    async with browser(platform) as anonymous:
        for path in ("/login", "/instances", "/static/htmx.min.js", "/static/console.css", "/nothing-here"):
            assert_secured(await anonymous.get(CONSOLE + path))
    async with logged_in(platform, members["owner"].email) as owner:
        pages = (
            "/instances", "/instances/new", "/audit", "/volumes", "/snapshots", "/addresses", "/key-pairs",
            "/security-groups", "/clouds", "/members", "/api-keys", "/alerts",
        )  # fmt: skip
        for answer in await secured_pages(owner, pages):
            assert answer.headers["cache-control"] == "no-store"
        refused = await owner.post(f"{CONSOLE}/instances", data=LAUNCH, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert_secured(refused)


async def test_the_console_is_not_in_the_api_document(platform: Platform) -> None:
    async with platform.client() as admin:
        paths = (await admin.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(CONSOLE)]


async def test_a_state_changing_request_from_elsewhere_is_refused(
    platform: Platform, members: dict[str, Member]
) -> None:
    async with logged_in(platform, members["operator"].email) as operator:
        csrf = csrf_of((await operator.get(f"{CONSOLE}/instances/new")).text)
        name = f"csrf-{uuid.uuid4().hex[:6]}"
        attempts: list[tuple[dict[str, str], dict[str, str]]] = [
            ({"Origin": "https://evil.example"}, {"csrf": csrf}),  # another site's page
            ({"Origin": "null"}, {"csrf": csrf}),  # a sandboxed frame or a data: page
            ({}, {"csrf": "x" * 43}),  # the right origin, a wrong token
            ({}, {}),  # the right origin, no token
        ]
        for headers, token in attempts:
            answer = await operator.post(
                f"{CONSOLE}/instances", data={**LAUNCH, "name": name, **token}, headers=headers
            )
            assert answer.status_code == 403, (headers, token, answer.text)
        # A browser's form post without any Origin header is refused as well.
        bare = httpx.AsyncClient(base_url=platform.gateway_url, cookies=operator.cookies, timeout=30)
        async with bare:
            answer = await bare.post(f"{CONSOLE}/instances", data={**LAUNCH, "name": name, "csrf": csrf})
            assert answer.status_code == 403
        async with platform.client() as admin:
            found = (await admin.get("/v1/instances", params={"name": name})).json()["items"]
        assert found == []
        # The same request from the console's page goes through.
        answer = await operator.post(f"{CONSOLE}/instances", data={**LAUNCH, "name": name, "csrf": csrf})
        assert answer.status_code == 303, answer.text
        async with platform.client() as admin:
            assert len((await admin.get("/v1/instances", params={"name": name})).json()["items"]) == 1
        # A login form posted from elsewhere is refused too.
        async with browser(platform) as anonymous:
            login_token = csrf_of((await anonymous.get(f"{CONSOLE}/login")).text)
            login = {"csrf": login_token, "username": members["viewer"].email, "password": "whatever"}
            answer = await anonymous.post(f"{CONSOLE}/login", data=login, headers={"Origin": "https://evil.example"})
            assert answer.status_code == 403


def _cookie(answer: httpx.Response, name: str) -> str:
    headers = [v for v in answer.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert headers, answer.headers
    return headers[0]


async def test_the_session_cookie_is_sealed_http_only_strict_and_secure_off_loopback(
    platform: Platform, members: dict[str, Member]
) -> None:
    async with browser(platform) as client:
        answer = await log_in(client, members["viewer"].email)
        assert answer.status_code == 303
        cookie = _cookie(answer, "clanavi_console")
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "path"} <= attributes and "secure" not in attributes, cookie
        assert "samesite=strict" in cookie.lower() and "path=/console" in cookie.lower()
        value = SimpleCookie(cookie)["clanavi_console"].value
        # No token can be read from it: a JWT is `eyJ...` segments joined by dots, which base64url never holds.
        assert not re.search(r"eyJ[\w-]*\.[\w-]+\.", value) and "." not in value, value
        # An altered cookie is no login.
        client.cookies.set("clanavi_console", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
        page = await client.get(f"{CONSOLE}/instances")
        assert page.status_code == 303 and page.headers["location"] == f"{CONSOLE}/login"
    # Reached by another name than the loopback's, both cookies are Secure: a browser sends them over HTTPS only
    # (this client, over plain HTTP, is handed the login form's cookie by the test).
    async with browser(platform, host="console.example.com") as remote:
        form = await remote.get(f"{CONSOLE}/login")
        login_cookie = _cookie(form, "clanavi_console_login")
        assert "secure" in {p.strip().lower() for p in login_cookie.split(";")}
        token = SimpleCookie(login_cookie)["clanavi_console_login"].value
        fields = {"csrf": csrf_of(form.text), "username": members["viewer"].email, "password": PASSWORD}
        answer = await remote.post(
            f"{CONSOLE}/login", data=fields, headers={"Cookie": f"clanavi_console_login={token}"}
        )
        assert answer.status_code == 303, answer.text
        assert "secure" in {p.strip().lower() for p in _cookie(answer, "clanavi_console").split(";")}


async def test_a_viewer_sees_no_action_and_a_forged_one_is_refused_by_the_api(
    platform: Platform, members: dict[str, Member]
) -> None:
    async with platform.client() as admin:
        launched = await admin.post("/v1/instances", json={**LAUNCH, "name": f"viewed-{uuid.uuid4().hex[:6]}"})
        instance = launched.json()
        await wait_for_state(admin, instance["id"], "running")
    async with logged_in(platform, members["viewer"].email) as viewer:
        page = await viewer.get(f"{CONSOLE}/instances", params={"name": instance["name"]})
        assert page.status_code == 200 and instance["id"] in page.text
        assert "<button" not in page.text.split("<main", 1)[1].split("</main>")[0].replace(
            '<button type="submit">Show</button>', ""
        )
        assert f"{CONSOLE}/instances/new" not in page.text
        csrf = csrf_of(page.text)
        forged = await viewer.post(
            f"{CONSOLE}/instances/{instance['id']}/actions", data={"csrf": csrf, "action": "stop"}
        )
        assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
        launch = await viewer.post(f"{CONSOLE}/instances", data={**LAUNCH, "name": "by-viewer", "csrf": csrf})
        assert launch.status_code == 403, launch.text
    async with platform.client() as admin:
        assert (await admin.get(f"/v1/instances/{instance['id']}")).json()["state"] == "running"
        refusals = (await admin.get("/v1/instances", params={"name": "by-viewer"})).json()["items"]
    assert refusals == []


async def test_logging_out_ends_the_login_everywhere(platform: Platform, members: dict[str, Member]) -> None:
    async with logged_in(platform, members["owner"].email) as owner:
        page = await owner.get(f"{CONSOLE}/instances")
        stolen = owner.cookies.get("clanavi_console", path=CONSOLE)
        assert stolen
        answer = await owner.post(f"{CONSOLE}/logout", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303 and answer.headers["location"].startswith(f"{CONSOLE}/login")
        assert 'clanavi_console=""' in _cookie(answer, "clanavi_console") or "Max-Age=0" in _cookie(
            answer, "clanavi_console"
        )
    # The cookie kept from before the logout (a copy an attacker took) no longer opens anything: the API refuses
    # its tokens, and the console sends its bearer to the login.
    async with browser(platform) as thief:
        thief.cookies.set("clanavi_console", stolen, path=CONSOLE)
        again = await thief.get(f"{CONSOLE}/instances")
        assert again.status_code == 303 and again.headers["location"] == f"{CONSOLE}/login"


async def _script_and_template(platform: Platform, owner_email: str) -> tuple[str, str]:
    """A script declaring a bounded number and a required secret, and a template on SimCloud that runs it."""
    owner = await login(platform, owner_email, "default")
    async with owner:
        inputs = [
            {"name": "size", "type": "number", "minimum": 1, "maximum": 8, "default": 1},
            {"name": "password", "type": "secret", "required": True},
        ]
        body = "#!/bin/sh\necho size {{ size }}\n: '{{ password }}'\n"
        name = f"guarded-{uuid.uuid4().hex[:6]}"
        script = await owner.post("/v1/scripts", json={"name": name, "body": body, "inputs": inputs})
        assert script.status_code == 201, script.text
        template = await owner.post(
            "/v1/templates",
            json={
                "name": name,
                "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
                "boot_scripts": [{"script_id": script.json()["script_id"]}],
            },
        )
        assert template.status_code == 201, template.text
    return script.json()["script_id"], template.json()["template_id"]


def _main(page: httpx.Response) -> str:
    return page.text.split("<main", 1)[1].split("</main>")[0]


async def test_script_and_template_pages_are_guarded(platform: Platform, members: dict[str, Member]) -> None:
    script_id, template_id = await _script_and_template(platform, members["owner"].email)
    pages = (
        "/scripts", f"/scripts/{script_id}", "/templates", f"/templates/{template_id}",
        f"/templates/{template_id}/launch", f"/templates/{template_id}/launch/inputs?cloud_id=sim",
    )  # fmt: skip
    async with logged_in(platform, members["operator"].email) as operator:
        await secured_pages(operator, pages)
        form = (await operator.get(f"{CONSOLE}/templates/{template_id}/launch")).text
        # One field per declared input, made from its type; the required one marked.
        assert 'type="number" step="any" min="1" max="8"' in form and 'id="field-input-size"' in form
        assert 'type="password" autocomplete="new-password" value="" id="field-input-password"' in form
        assert 'name="input-password" aria-describedby="hint-input-password" required aria-required="true"' in form

        # Every form is refused from another site, and nothing is made.
        csrf = csrf_of(form)
        launch = {"csrf": csrf, "name": "from-elsewhere", "cloud_id": "sim", "input-password": "x" * 12}
        posts: list[tuple[str, dict[str, str]]] = [
            ("/scripts", {"csrf": csrf, "name": "from-elsewhere", "body": "#!/bin/sh\n"}),
            (f"/scripts/{script_id}/versions", {"csrf": csrf, "body": "#!/bin/sh\necho changed\n"}),
            (f"/scripts/{script_id}/actions", {"csrf": csrf, "action": "delete"}),
            ("/templates", {"csrf": csrf, "name": "from-elsewhere", "cloud_id": "sim"}),
            (f"/templates/{template_id}/versions", {"csrf": csrf, "cloud_id": "sim"}),
            (f"/templates/{template_id}/actions", {"csrf": csrf, "action": "deprecate", "version": "1"}),
            (f"/templates/{template_id}/launch", launch),
        ]
        for path, data in posts:
            answer = await operator.post(CONSOLE + path, data=data, headers={"Origin": "https://evil.example"})
            assert answer.status_code == 403, (path, answer.text)
            assert_secured(answer)

        # The API's refusal of an input is marked on its field; the secret typed is not sent back.
        refused = await operator.post(f"{CONSOLE}/templates/{template_id}/launch", data={**launch, "input-size": "99"})
        assert refused.status_code == 422, refused.text
        assert 'aria-describedby="hint-input-size error-input-size" aria-invalid="true"' in refused.text
        assert '<p class="field-error" id="error-input-size">must be at most 8</p>' in refused.text
        assert "x" * 12 not in refused.text
    async with platform.client() as admin:
        assert (await admin.get("/v1/instances", params={"name": "from-elsewhere"})).json()["items"] == []
        for kind, record_id in (("scripts", script_id), ("templates", template_id)):
            versions = (await admin.get(f"/v1/{kind}/{record_id}/versions")).json()["items"]
            assert [(v["version"], v["deprecated"]) for v in versions] == [(1, False)]
        assert (await admin.get("/v1/scripts", params={"name": "from-elsewhere"})).json()["items"] == []


async def test_a_viewer_sees_no_template_action_and_the_api_refuses_a_forged_one(
    platform: Platform, members: dict[str, Member]
) -> None:
    script_id, template_id = await _script_and_template(platform, members["owner"].email)
    async with logged_in(platform, members["viewer"].email) as viewer:
        for path in ("/scripts", f"/scripts/{script_id}", "/templates", f"/templates/{template_id}"):
            page = await viewer.get(CONSOLE + path)
            assert page.status_code == 200, (path, page.text)
            main = _main(page).replace('<button type="submit">Show</button>', "")
            assert "<button" not in main and "<form" not in main.replace('<form class="filters"', ""), path
            assert "/launch" not in main and "New script" not in main and "New server template" not in main
        csrf = csrf_of(page.text)
        launch = {"csrf": csrf, "name": "by-viewer", "cloud_id": "sim", "input-password": "p" * 12}
        forged = await viewer.post(f"{CONSOLE}/templates/{template_id}/launch", data=launch)
        assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
        made = await viewer.post(f"{CONSOLE}/scripts", data={"csrf": csrf, "name": "by-viewer", "body": "#!/bin/sh\n"})
        assert made.status_code == 403 and 'role="alert"' in made.text
        gone = await viewer.post(f"{CONSOLE}/templates/{template_id}/actions", data={"csrf": csrf, "action": "delete"})
        assert gone.status_code == 403
    async with platform.client() as admin:
        assert (await admin.get("/v1/instances", params={"name": "by-viewer"})).json()["items"] == []
        assert (await admin.get(f"/v1/templates/{template_id}")).status_code == 200


async def test_the_admin_forms_and_the_connection_test_are_refused_from_elsewhere_and_to_non_admins(
    platform: Platform, members: dict[str, Member]
) -> None:
    tag = uuid.uuid4().hex[:6]
    project = {"id": f"x-{tag}", "name": "X"}
    user = {"email": f"x-{tag}@example.com", "name": "X", "password": PASSWORD}
    async with logged_in(platform, members["owner"].email) as owner:
        # An owner of a project is no platform admin: no form to make projects or users, and no link to users.
        projects_page = await owner.get(f"{CONSOLE}/projects")
        assert projects_page.status_code == 200 and "default" in projects_page.text
        assert (
            f'method="post" action="{CONSOLE}/projects"' not in projects_page.text
            and "Create project" not in projects_page.text
        )
        users_page = await owner.get(f"{CONSOLE}/users")
        assert "Only platform admins manage users." in users_page.text and 'name="password"' not in users_page.text
        assert f'href="{CONSOLE}/users"' not in users_page.text
        csrf = csrf_of(projects_page.text)
        # Posted anyway, from the console's own page: the API refuses.
        for path, body in (("/projects", project), ("/users", user)):
            forged = await owner.post(CONSOLE + path, data={**body, "csrf": csrf})
            assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
            # From another site's page, with the owner's cookie: refused before the API is asked.
            elsewhere = await owner.post(
                CONSOLE + path, data={**body, "csrf": csrf}, headers={"Origin": "https://evil.example"}
            )
            assert elsewhere.status_code == 403 and "did not come from a page of the console" in elsewhere.text
        tested = await owner.post(
            f"{CONSOLE}/clouds/sim/test", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert tested.status_code == 403 and "cloud-test" not in tested.text
        assert 'id="cloud-test"' in (await owner.post(f"{CONSOLE}/clouds/sim/test", data={"csrf": csrf})).text
    async with logged_in(platform, members["viewer"].email) as viewer:
        clouds = await viewer.get(f"{CONSOLE}/clouds")
        assert "Test connection" not in clouds.text and "Add a cloud account" not in clouds.text
        forged = await viewer.post(f"{CONSOLE}/clouds/sim/test", data={"csrf": csrf_of(clouds.text)})
        assert forged.status_code == 403 and 'id="cloud-test"' not in forged.text
    async with platform.client() as admin:
        assert (await admin.get(f"/v1/projects/{project['id']}")).status_code == 404
        assert (await admin.get("/v1/users", params={"email": user["email"]})).json()["items"] == []


async def test_a_list_keeps_its_filters_and_its_way_back_in_its_url(
    platform: Platform, members: dict[str, Member]
) -> None:
    tag = uuid.uuid4().hex[:6]
    async with platform.client() as admin:
        for n in range(45):
            made = await admin.post("/v1/key-pairs", json={"name": f"kp-{tag}-{n:02}", "cloud_id": "sim"})
            assert made.status_code == 201, made.text
    rows = re.compile(r'<th scope="row">([^<]+)</th>')
    async with logged_in(platform, members["viewer"].email) as viewer:
        # A filter set in the URL is applied, and shown in the form as the URL set it.
        one = await viewer.get(f"{CONSOLE}/key-pairs", params={"name": f"kp-{tag}-07", "order": "desc"})
        assert rows.findall(one.text) == [f"kp-{tag}-07"]
        assert f'value="kp-{tag}-07"' in one.text and '<option value="desc" selected>' in one.text
        # Forward through the pages, then back one page at a time: each as it was, the filters kept.
        url, pages, answer = f"{CONSOLE}/key-pairs?cloud_id=sim&sort=name&order=asc&limit=20", [], None
        while url:
            answer = await viewer.get(url)
            assert answer.status_code == 200, answer.text
            pages.append(rows.findall(answer.text))
            following = re.search(r'<a href="([^"]+)" rel="next">', answer.text)
            url = html.unescape(following.group(1)) if following else ""
            assert not url or ("sort=name" in url and "cloud_id=sim" in url)
        assert len(pages) >= 3 and sum(pages, []) == sorted(sum(pages, []))
        assert answer is not None
        for expected in reversed(pages[:-1]):
            back = re.search(r'<a href="([^"]+)" rel="prev">', answer.text)
            assert back is not None, "no previous page"
            answer = await viewer.get(html.unescape(back.group(1)))
            assert rows.findall(answer.text) == expected
        assert 'rel="prev"' not in answer.text


RUN_SECRET = "console-guarded-Secret-42"


async def _running_with_a_run(platform: Platform) -> tuple[str, str, str]:
    """An instance launched from a template (so runs get in), an operational script with a bounded number and a
    required secret, and one run of it that has ended: (instance id, script id, run id)."""
    tag = uuid.uuid4().hex[:6]
    async with platform.client() as admin:
        boot = (await admin.post("/v1/scripts", json={"name": f"b-{tag}", "body": "#!/bin/sh\necho up\n"})).json()
        template = {
            "name": f"ops-{tag}",
            "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
            "boot_scripts": [{"script_id": boot["script_id"]}],
        }
        template_id = (await admin.post("/v1/templates", json=template)).json()["template_id"]
        launched = await admin.post(
            "/v1/instances", json={"name": f"ops-{tag}", "cloud_id": "sim", "template_id": template_id}
        )
        assert launched.status_code == 202, launched.text
        instance_id = launched.json()["id"]
        script = {
            "name": f"ops-{tag}",
            "phase": "operational",
            "body": "#!/bin/sh\necho 'size {{ size }} secret {{ password }} <script>x</script>'\n",
            "inputs": [
                {"name": "size", "type": "number", "minimum": 1, "maximum": 8, "default": 1},
                {"name": "password", "type": "secret", "required": True},
            ],
        }
        script_id = (await admin.post("/v1/scripts", json=script)).json()["script_id"]
        await wait_for_state(admin, instance_id, "running")
        body = {"script_id": script_id, "inputs": {"password": RUN_SECRET}}
        run = (await admin.post(f"/v1/instances/{instance_id}/runs", json=body)).json()

        async def ended() -> dict[str, Any] | None:
            found: dict[str, Any] = (await admin.get(f"/v1/runs/{run['id']}")).json()
            return found if found["state"] not in ("queued", "running") else None

        assert (await eventually(ended, within=30, what="the run ended"))["state"] == "succeeded"
    return instance_id, script_id, run["id"]


async def _run_count(platform: Platform, instance_id: str) -> int:
    async with platform.client() as admin:
        return len((await admin.get(f"/v1/instances/{instance_id}/runs")).json()["items"])


async def test_run_pages_are_guarded_and_never_show_a_secret(platform: Platform, members: dict[str, Member]) -> None:
    instance_id, script_id, run_id = await _running_with_a_run(platform)
    pages = (
        "/runs", f"/runs?instance_id={instance_id}&state=succeeded", f"/runs/{run_id}", f"/runs/{run_id}/row",
        f"/runs/{run_id}/output?offset=0&state=running", f"/instances/{instance_id}", f"/instances/{instance_id}/run",
        f"/instances/{instance_id}/run?script_id={script_id}", f"/runs/new?instance_id={instance_id}",
        f"/runs/inputs?script_id={script_id}&instance_id={instance_id}", "/instances",
    )  # fmt: skip
    async with logged_in(platform, members["operator"].email) as operator:
        seen = [answer.text for answer in await secured_pages(operator, pages)]
        run_page = seen[2]
        # The output as the script wrote it, HTML-escaped, the secret masked.
        assert "size 1 secret ******** &lt;script&gt;x&lt;/script&gt;" in run_page
        assert 'data-state="succeeded"' in run_page and 'id="run-follow" data-ended="true"' in run_page
        # The output fragment of an ended run: the facts again, and no further ask.
        assert 'hx-swap-oob="true"' in seen[4] and "hx-trigger" not in seen[4]
        form = seen[7]
        assert 'type="password" autocomplete="new-password" value="" id="field-input-password"' in form
        assert 'type="number" step="any" min="1" max="8"' in form and 'id="run-a-script"' in seen[5]

        csrf = csrf_of(form)
        run = {"csrf": csrf, "script_id": script_id, "input-password": RUN_SECRET}
        bulk = {**run, "on": "selected", "instance_ids": instance_id, "concurrency": "2"}
        for path, data in ((f"/instances/{instance_id}/run", run), ("/runs", bulk)):
            for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}):
                answer = await operator.post(CONSOLE + path, data=data, headers=headers)
                assert answer.status_code == 403, (path, answer.text)
                assert_secured(answer)
            wrong = await operator.post(CONSOLE + path, data={**data, "csrf": "x" * 43})
            assert wrong.status_code == 403, (path, wrong.text)
        assert await _run_count(platform, instance_id) == 1

        # Refusals: an input out of its bounds marked on its field, the secret typed not sent back.
        refused = await operator.post(f"{CONSOLE}/instances/{instance_id}/run", data={**run, "input-size": "99"})
        assert refused.status_code == 422, refused.text
        assert 'aria-describedby="hint-input-size error-input-size" aria-invalid="true"' in refused.text
        assert '<p class="field-error" id="error-input-size">must be at most 8</p>' in refused.text
        seen.append(refused.text)
        # A stopped instance: the API's 409, the instances it names marked.
        async with platform.client() as admin:
            assert (await admin.post(f"/v1/instances/{instance_id}/actions/stop")).status_code == 202
            await wait_for_state(admin, instance_id, "stopped")
        stopped = await operator.post(f"{CONSOLE}/instances/{instance_id}/run", data=run)
        assert stopped.status_code == 409, stopped.text
        assert 'id="targets" aria-invalid="true" aria-describedby="error-targets"' in stopped.text
        assert "scripts run only on a running instance" in stopped.text
        many = await operator.post(f"{CONSOLE}/runs", data=bulk)
        assert many.status_code == 409 and 'id="error-targets"' in many.text, many.text
        seen += [stopped.text, many.text]
        assert await _run_count(platform, instance_id) == 1
        async with platform.client() as admin:
            assert (await admin.post(f"/v1/instances/{instance_id}/actions/start")).status_code == 202
    assert not [page for page in seen if RUN_SECRET in page]


async def test_a_viewer_sees_runs_but_starts_none_and_another_project_finds_none(
    platform: Platform, members: dict[str, Member]
) -> None:
    instance_id, script_id, run_id = await _running_with_a_run(platform)
    async with logged_in(platform, members["viewer"].email) as viewer:
        run_page = await viewer.get(f"{CONSOLE}/runs/{run_id}")
        assert run_page.status_code == 200 and "size 1 secret ********" in run_page.text
        for path in (f"/instances/{instance_id}", "/instances", f"/instances/{instance_id}/run", "/runs"):
            page = await viewer.get(CONSOLE + path)
            assert page.status_code == 200, (path, page.text)
            main = _main(page).replace('<button type="submit">Show</button>', "")
            assert "<button" not in main and "<form" not in main.replace('<form class="filters"', ""), path
            assert "run-a-script" not in main and 'type="checkbox"' not in main, path
        csrf = csrf_of(run_page.text)
        forged = await viewer.post(
            f"{CONSOLE}/instances/{instance_id}/run",
            data={"csrf": csrf, "script_id": script_id, "input-password": RUN_SECRET},
        )
        assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
        many = await viewer.post(
            f"{CONSOLE}/runs",
            data={"csrf": csrf, "script_id": script_id, "on": "selected", "instance_ids": instance_id},
        )
        assert many.status_code == 403 and 'role="alert"' in many.text, many.text
        assert RUN_SECRET not in forged.text + many.text
    assert await _run_count(platform, instance_id) == 1

    tag = uuid.uuid4().hex[:6]
    async with platform.client() as admin:
        assert (
            await admin.post("/v1/projects", json={"id": f"other-{tag}", "name": f"other {tag}"})
        ).status_code == 201
        await user_in(admin, f"other-{tag}@example.com", f"other-{tag}", "owner")
    async with logged_in(platform, f"other-{tag}@example.com") as other:
        for path in (
            f"/runs/{run_id}",
            f"/runs/{run_id}/output",
            f"/runs/{run_id}/row",
            f"/instances/{instance_id}/run",
        ):
            answer = await other.get(CONSOLE + path)
            assert answer.status_code == 404, (path, answer.text)
            assert "does not exist" in answer.text and "size 1" not in answer.text, path
        assert run_id not in (await other.get(f"{CONSOLE}/runs")).text


async def test_cluster_pages_make_preview_show_and_scale_a_cluster_and_a_viewer_changes_none(
    platform: Platform, members: dict[str, Member]
) -> None:
    owner = await login(platform, members["owner"].email, "default")
    async with owner:
        small = {
            "name": f"small-{uuid.uuid4().hex[:6]}",
            "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        }
        template = await owner.post("/v1/templates", json=small)
        assert template.status_code == 201, template.text
    template_id = template.json()["template_id"]
    name = f"web-{uuid.uuid4().hex[:6]}"
    spec = (
        f"name: {name}\non_failure: degrade\nroles:\n"
        f"  - {{name: db, template_id: {template_id}, cloud_id: sim, count: 1}}\n"
        f"  - {{name: web, template_id: {template_id}, cloud_id: sim, count: 2, depends_on: [db]}}\n"
    )
    async with logged_in(platform, members["operator"].email) as operator:
        listing = await operator.get(f"{CONSOLE}/clusters")
        assert listing.status_code == 200 and 'name="spec"' in listing.text
        csrf = csrf_of(listing.text)
        preview = await operator.post(f"{CONSOLE}/clusters", data={"csrf": csrf, "spec": spec, "action": "preview"})
        assert preview.status_code == 200 and 'id="preview"' in preview.text, preview.text
        assert "0.0600 USD an hour" in preview.text
        # A circle and an unknown role: every problem listed where it is in the spec, nothing made.
        circle = spec.replace("count: 1}", "count: 1, depends_on: [web, cache]}")
        refused = await operator.post(f"{CONSOLE}/clusters", data={"csrf": csrf, "spec": circle, "action": "create"})
        assert refused.status_code == 422, refused.text
        assert "<code>roles.0.depends_on</code>: dependency cycle: db -&gt; web -&gt; db" in refused.text
        assert "<code>roles.0.depends_on.1</code>: no role cache in this cluster" in refused.text

        made = await operator.post(f"{CONSOLE}/clusters", data={"csrf": csrf, "spec": spec, "action": "create"})
        assert made.status_code == 303, made.text
        page_path = made.headers["location"]
        cluster_id = page_path.rsplit("/", 1)[1]

        async def running() -> bool:
            page = (await operator.get(page_path)).text
            return '<strong id="cluster-state">running</strong>' in page

        await eventually(running, what="cluster running")
        page = await operator.get(page_path)
        assert_secured(page)
        assert f'id="member-{name}-web-2"' in page.text and "100%" in page.text
        scaled = await operator.post(
            f"{CONSOLE}/clusters/{cluster_id}/actions",
            data={"csrf": csrf, "action": "scale", "role": "web", "count": "1"},
        )
        assert scaled.status_code == 303, scaled.text
        listed = await operator.get(f"{CONSOLE}/clusters", params={"name": name})
        assert f'id="cluster-{cluster_id}"' in listed.text and "web &times; 1" in listed.text

    async with logged_in(platform, members["viewer"].email) as viewer:
        page = await viewer.get(page_path)
        assert page.status_code == 200
        main = _main(page)
        assert "<button" not in main and "<form" not in main
        forged = await viewer.post(
            f"{CONSOLE}/clusters/{cluster_id}/actions", data={"csrf": csrf_of(page.text), "action": "delete"}
        )
        assert forged.status_code == 403 and 'role="alert"' in forged.text
    async with platform.client() as admin:
        kept = (await admin.get(f"/v1/clusters/{cluster_id}")).json()
        assert kept["state"] in ("scaling", "running") and {r["name"]: r["count"] for r in kept["roles"]} == {
            "db": 1,
            "web": 1,
        }
        assert (await admin.delete(f"/v1/clusters/{cluster_id}")).status_code == 202


async def test_a_viewer_cannot_make_or_expire_a_silence_from_the_alerts_page(
    platform: Platform, members: dict[str, Member]
) -> None:
    ends = "2999-01-01T00:00:00Z"
    forged_matcher = f"alertname=forged-{uuid.uuid4().hex[:6]}"
    async with platform.client() as admin:
        made = await admin.post(
            "/v1/silences", json={"matchers": [{"label": "alertname", "value": "v"}], "ends_at": ends}
        )
        silence = made.json()
    async with logged_in(platform, members["viewer"].email) as viewer:
        page = await viewer.get(f"{CONSOLE}/alerts")
        assert page.status_code == 200 and f"silence-{silence['id']}" in page.text
        assert f"{CONSOLE}/silences/{silence['id']}/expire" not in page.text  # no action offered
        forged = await viewer.post(f"{CONSOLE}/silences/{silence['id']}/expire", data={"csrf": csrf_of(page.text)})
        assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
        assert 'id="new-silence"' not in page.text  # no form offered
        asked = {"csrf": csrf_of(page.text), "matchers": forged_matcher, "hours": "1"}
        forged = await viewer.post(f"{CONSOLE}/silences", data=asked)
        assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
    async with logged_in(platform, members["operator"].email) as operator:
        page = await operator.get(f"{CONSOLE}/alerts")
        elsewhere = await operator.post(
            f"{CONSOLE}/silences/{silence['id']}/expire",
            data={"csrf": csrf_of(page.text)},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        asked = {"csrf": csrf_of(page.text), "matchers": forged_matcher, "hours": "1"}
        elsewhere = await operator.post(f"{CONSOLE}/silences", data=asked, headers={"Origin": "https://evil.example"})
        assert elsewhere.status_code == 403
        without_token = await operator.post(f"{CONSOLE}/silences", data={"matchers": forged_matcher, "hours": "1"})
        assert without_token.status_code == 403
    async with platform.client() as admin:
        assert (await admin.get(f"/v1/silences/{silence['id']}")).json()["state"] == "active"
        active = (await admin.get("/v1/silences", params={"state": "active", "limit": 100})).json()["items"]
        assert not [s for s in active if f"{s['matchers'][0]['label']}={s['matchers'][0]['value']}" == forged_matcher]


async def test_only_an_owner_changes_budgets_or_rates_again_from_the_costs_page(
    platform: Platform, members: dict[str, Member]
) -> None:
    name = f"guarded-{uuid.uuid4().hex[:6]}"
    async with platform.client() as admin:
        made = await admin.post("/v1/budgets", json={"name": name, "amount": "10", "currency": "USD"})
        assert made.status_code == 201, made.text
        budget = made.json()
    asked = {"name": f"{name}-forged", "amount": "5", "currency": "USD", "scope": "project"}
    period = {"start": "2026-01-01", "end": "2026-01-02"}
    for role in ("viewer", "operator"):
        async with logged_in(platform, members[role].email) as member:
            page = await member.get(f"{CONSOLE}/costs")
            assert page.status_code == 200 and f"budget-{budget['id']}" in page.text
            for offered in ('id="new-budget"', 'id="rerate"', f"{CONSOLE}/budgets/{budget['id']}/delete"):
                assert offered not in page.text, (role, offered)  # no action offered
            token = {"csrf": csrf_of(page.text)}
            for path, data in (
                ("/budgets", asked),
                (f"/budgets/{budget['id']}/delete", {}),
                ("/costs/rerate", period),
            ):
                forged = await member.post(f"{CONSOLE}{path}", data={**token, **data})
                assert forged.status_code == 403 and 'role="alert"' in forged.text, (role, path, forged.text)
    async with logged_in(platform, members["owner"].email) as owner:
        page = await owner.get(f"{CONSOLE}/costs")
        assert 'id="new-budget"' in page.text and 'id="rerate"' in page.text
        token = {"csrf": csrf_of(page.text)}
        for path, data in (("/budgets", asked), (f"/budgets/{budget['id']}/delete", {}), ("/costs/rerate", period)):
            elsewhere = await owner.post(
                f"{CONSOLE}{path}", data={**token, **data}, headers={"Origin": "https://evil.example"}
            )
            assert elsewhere.status_code == 403, path
            without_token = await owner.post(f"{CONSOLE}{path}", data=data)
            assert without_token.status_code == 403, path
        # A budget id that is not one of the project's: not found, and nothing deleted.
        missing = await owner.post(f"{CONSOLE}/budgets/{uuid.uuid4()}/delete", data=token)
        assert missing.status_code == 404 and 'role="alert"' in missing.text
    async with platform.client() as admin:
        assert (await admin.get(f"/v1/budgets/{budget['id']}")).status_code == 200
        assert (await admin.get("/v1/budgets", params={"name": f"{name}-forged"})).json()["items"] == []
        assert (await admin.delete(f"/v1/budgets/{budget['id']}")).status_code == 204
