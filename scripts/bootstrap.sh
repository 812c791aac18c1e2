#!/usr/bin/env bash
# Installs whatever is missing for running and testing Clanavi on Debian 12: the Debian packages for PostgreSQL and
# RabbitMQ, then a virtual environment (.venv) with the locked Python dependencies, every cloud SDK extra among them
# (clanavi[all]). Safe to run again: it only does what is not done yet. `--browser` (make test) adds Debian's chromium
# and chromium-driver, which the web console's end-to-end tests drive.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PG_BIN=/usr/lib/postgresql/15/bin

missing=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
[ -x "$PG_BIN/initdb" ] || missing+=(postgresql-15)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# libvirt: headers to build libvirt-python, and the daemon the tests run as an unprivileged session daemon.
[ -f /usr/include/libvirt/libvirt.h ] || missing+=(libvirt-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -x /usr/sbin/libvirtd ] || missing+=(libvirt-daemon)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
  || missing+=(python3-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# wrk drives the gateway benchmark (make bench).
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# OpenSSH's server: the tests and `make run` start one on a free port as the SSH side of SimCloud's guests.
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ "${1:-}" = "--browser" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No service a package brings (a system sshd on port 22, say) is started by installing it: a policy that denies
    # every start stands for the install, and goes with it, unless one was there before.
    policy_made=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_made=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$policy_made" ] || rm -f /usr/sbin/policy-rc.d
  else
    echo "bootstrap: these Debian packages are missing. Install them, then run make again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python 3.11 or newer is needed, found $(python3 --version)" >&2
  exit 1
fi

# uv installs the locked dependencies; it lives in a venv of its own so that syncing .venv never removes it.
if [ ! -x .cache/uv-venv/bin/uv ] || [ "$(.cache/uv-venv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  rm -rf .cache/uv-venv
  python3 -m venv .cache/uv-venv
  .cache/uv-venv/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

# System certificates: a TLS-inspecting proxy's CA is trusted there, not in uv's bundled roots.
export UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy
# The interpreter itself, not a wrapper such as a pyenv shim: uv would rebuild the venv on every run otherwise.
# Every extra: `make run` serves, and `make test` tests, every adapter. (uv's cache, ~/.cache/uv unless UV_CACHE_DIR
# says otherwise, is what tests/integration/test_sdk_extras.py installs a venv without one extra from.)
.cache/uv-venv/bin/uv sync --frozen --all-extras --quiet --python "$(python3 -c 'import sys; print(sys.executable)')"
