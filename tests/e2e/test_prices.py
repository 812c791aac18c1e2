"""Price catalogs through the gateway and the installed `clanavi` command: SimCloud's built-in prices, a CSV import
by an owner and its history, flavors with their prices, a viewer refused an import, another project's account not
found, and an EC2 account priced from the Libcloud file installed beside the provisioner."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack import MotoServer, free_port
from services.provisioner.prices import offers
from tests.e2e.console_kit import CONSOLE, add_members, logged_in
from tests.e2e.platform import TOKEN, Platform
from tests.e2e.test_cli import Shell

pytestmark = pytest.mark.e2e
# The command runs this checkout's code, wherever the package was installed from.
CODE = {"PYTHONPATH": str(Path(__file__).parents[2])}


def test_prices_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    url = platform.gateway_url
    admin = Shell(tmp_path / "admin", CLANAVI_URL=url, CLANAVI_TOKEN=TOKEN, **CODE)
    for project in ("prices", "others"):
        admin("projects", "create", "--id", project, "--name", project.title())
    shells = {}
    for project, role in (("prices", "owner"), ("prices", "viewer"), ("others", "owner")):
        key = admin("api-keys", "create", "--name", role, "--role", role, "-p", project, "-o", "json").json()["key"]
        shells[project, role] = shell = Shell(tmp_path / f"{project}-{role}", **CODE)
        shell("login", "--url", url, "--api-key", "--stdin", stdin=key + "\n")
    owner, viewer, stranger = shells["prices", "owner"], shells["prices", "viewer"], shells["others", "owner"]

    cloud = owner("clouds", "add", "--name", "sim-p", "--driver", "simcloud", "-o", "json").json()["id"]
    builtin = viewer("prices", "list", "--cloud", cloud, "--kind", "flavor", "-o", "json")
    assert {p["item"]: p["price"] for p in builtin.json()}["sim.small"] == "0.0200"
    assert "version 0 in USD, from builtin:simcloud" in builtin.err

    file = tmp_path / "prices.csv"
    file.write_text("kind,region,item,price,currency\nflavor,,sim.small,0.0300,EUR\nvolume,,,0.12,EUR\n")
    made = owner("prices", "import", "--cloud", cloud, str(file), "-o", "json").json()
    assert (made["version"], made["currency"], made["source"], made["price_count"]) == (1, "EUR", "upload:csv", 2)
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    file.write_text("kind,region,item,price,currency\nflavor,,sim.small,0.0350,EUR\n")
    owner("prices", "import", "--cloud", cloud, str(file), "--effective-from", later, "-o", "json")
    flavors = viewer("flavors", "list", "--cloud", cloud, "-o", "json").json()
    assert {f["id"]: (f["hourly_price"], f["currency"]) for f in flavors}["sim.small"] == ("0.0300", "EUR")
    versions = viewer("prices", "versions", "--cloud", cloud, "-o", "json").json()
    assert [v["version"] for v in versions] == [2, 1]
    launch = ("instances", "launch", "--image", "img-debian-12", "--flavor", "sim.small", "--cloud", cloud)
    seen = owner(*launch, "--name", "web", "--count", "3", "--dry-run", "-o", "json")
    assert (seen.json()["hourly"], seen.json()["monthly"], seen.json()["currency"]) == ("0.0300", "21.9000", "EUR")
    assert "3 servers: 65.7000 EUR a month" in seen.err
    assert owner("instances", "list", "--cloud", cloud, "-o", "json").json() == []
    then = viewer("prices", "list", "--cloud", cloud, "--at", later, "-o", "json").json()
    assert [(p["item"], p["price"]) for p in then] == [("sim.small", "0.0350")]

    file.write_text("kind,region,item,price,currency\nflavor,,sim.small,-1,EUR\n")
    bad = owner("prices", "import", "--cloud", cloud, str(file), expect=1)
    assert bad.err.startswith("clanavi: 422 ") and "price (row 2): must not be negative" in bad.err
    assert viewer("prices", "import", "--cloud", cloud, str(file), expect=1).err.startswith("clanavi: 403 ")
    assert stranger("prices", "list", "--cloud", cloud, expect=1).err.startswith("clanavi: 404 ")
    assert len(viewer("prices", "versions", "--cloud", cloud, "-o", "json").json()) == 2

    installed = offers.installed_libcloud_file()
    assert installed is not None
    libcloud = json.loads(installed.read_text())
    with MotoServer(free_port()) as aws:
        settings = ("--config", "region=us-east-1", "--config", f"endpoint_url={aws.url}")
        secrets = json.dumps({"access_key_id": "AKIAPRICES", "secret_access_key": "prices-secret-value"})
        ec2 = owner(
            "clouds", "add", "--name", "aws", "--driver", "ec2", *settings, "--credentials-file", "-", "-o", "json",
            stdin=secrets,
        ).json()["id"]  # fmt: skip
        imported = owner("prices", "import", "--cloud", ec2, "--format", "libcloud", "-o", "json").json()
        assert imported["source"] == "libcloud" and imported["currency"] == "USD"
        assert imported["source_updated_at"] == datetime.fromtimestamp(libcloud["updated"], UTC).isoformat().replace(
            "+00:00", "Z"
        )
        listed = owner("prices", "list", "--cloud", ec2, "--region", "us-east-1", "--kind", "flavor", "-o", "json")
        assert "days old" in listed.err
        micro = {p["item"]: p["price"] for p in listed.json()}["t3.micro"]
        assert micro == str(libcloud["compute"]["ec2_linux"]["t3.micro"]["us-east-1"])
        flavors = owner("flavors", "list", "--cloud", ec2, "-o", "json").json()
        assert {f["id"]: f["hourly_price"] for f in flavors}.get("t3.micro") == micro


async def test_the_console_shows_prices_in_the_launch_form_and_on_the_clouds_prices_page(platform: Platform) -> None:
    members = await add_members(platform, "prices")
    async with logged_in(platform, members["operator"].email) as client:
        form = await client.get(f"{CONSOLE}/instances/new", params={"cloud_id": "sim"})
        assert form.status_code == 200, form.text
        page = await client.get(f"{CONSOLE}/clouds/sim/prices")
        assert page.status_code == 200, page.text
        clouds = await client.get(f"{CONSOLE}/clouds")
        assert f'href="{CONSOLE}/clouds/sim/prices"' in clouds.text
    shown = html.unescape(page.text)
    assert "Version 0 (the adapter's built-in prices)" in shown
    assert "<td>sim.small</td><td>0.0200 USD</td><td>hour</td>" in shown
    assert "No version imported." in shown
    # The built-in `sim` account of project default: SimCloud's own prices.
    assert "sim.small: 1 vCPU, 2048 MB, 20 GB, 0.0200 USD/h" in html.unescape(form.text)
