# realtime-conformance in a container: the mock server and the conformance runner.
#
#   docker build -t realtime-conformance .
#   docker run --rm -p 127.0.0.1:8765:8765 realtime-conformance
#       -> realtime-mock serve --host 0.0.0.0 --port 8765 (ws://127.0.0.1:8765/v1/realtime)
#   docker run --rm --init -v "$PWD:/work" realtime-conformance \
#       realtime-conformance run --client "python3 my_client.py" --junit junit.xml
#
# No ENTRYPOINT: the default command serves the mock, and any other command (the runner,
# `realtime-mock scenarios`, a shell) replaces it. Inside the container the mock binds
# 0.0.0.0, because a published port reaches the container on its network interface, not on
# its loopback; publish it on the host's loopback only (`-p 127.0.0.1:8765:8765`): the mock
# accepts any key and has no TLS. Outside a container keep the default --host 127.0.0.1.
# The default target is `mock` (the runtime: Python only). The `node` target adds Node and
# npm, to run a Node client inside (`realtime-conformance run --client "node …"`):
#   docker build --target node -t realtime-conformance:node .
# docs/ci.md explains all of this.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: a wheel from the checkout (the sources the wheel holds, nothing else)
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY conformance ./conformance
COPY mock_server ./mock_server
COPY client_reference ./client_reference
COPY fixtures ./fixtures
# The `tls` extra (cryptography) makes `realtime-mock serve --tls` / `run --tls` work.
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels ".[tls]"

# ---- runtime: the installed package and its console scripts, run as a non-root user
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /tmp/wheels
# Only the wheels just built from the checkout (--no-index): nothing to pin here.
# hadolint ignore=DL3013
RUN python -m pip install --no-cache-dir --no-index --find-links /tmp/wheels \
        "realtime-conformance[tls]" \
    && rm -rf /tmp/wheels \
    && useradd --create-home --uid 10001 --user-group realtime \
    && mkdir /work && chown realtime:realtime /work
USER 10001:10001
WORKDIR /work
EXPOSE 8765
# Cheap: a TCP connect to the default port (a container running the runner instead has no
# use for it; `--no-healthcheck` turns it off).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 8765), 2).close()"]
CMD ["realtime-mock", "serve", "--host", "0.0.0.0", "--port", "8765"]

# ---- node: the runtime plus Node and npm, to run a Node client inside the container
FROM ${NODE_IMAGE} AS node-dist
FROM runtime AS node
USER 0
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
USER 10001:10001

# ---- the default target (last, so a plain `docker build` makes it): the runtime as is
FROM runtime AS mock
