# syntax=docker/dockerfile:1.7
# One image for every Clanavi service; pick the service with `service serve <name>`.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
# Use the base image's interpreter so the venv's python symlink is valid in the runtime stage too.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# libvirt-python ships as source only: it builds against the libvirt headers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc \
 && rm -rf /var/lib/apt/lists/*

# Dependencies in their own layer: code edits then skip re-installing them. Every cloud SDK (clanavi[all]).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --frozen --no-dev --extra all --no-install-project --no-editable

COPY pyproject.toml uv.lock README.md ./
COPY kernel ./kernel
COPY adapters ./adapters
COPY services ./services
# --no-editable: the project lands in site-packages, so the runtime needs only /app/.venv, not /src.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra all --no-editable


FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt0 \
 && rm -rf /var/lib/apt/lists/*
# Fixed numeric ids so Kubernetes runAsNonRoot can verify the user without runAsUser.
RUN groupadd --system --gid 10001 clanavi \
 && useradd --system --uid 10001 --gid clanavi --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin clanavi
# Owned by root and not writable by the app user: the code cannot be altered at run time.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CLANAVI_ENV=production
WORKDIR /app
USER 10001:10001
EXPOSE 8080 8081 8082
ENTRYPOINT ["clanavi"]
CMD ["service", "serve", "gateway"]
