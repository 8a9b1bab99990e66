# Images of agent-supervisor: `--target agent` (the agent runtime, also the scripted model server) and
# `--target operator`. Build from the repository root:
#   docker build --target agent -t agent-supervisor-agent .
#   docker build --target operator -t agent-supervisor-operator .
# Python dependencies are pinned by requirements/constraints.txt; the final stages hold only the base image and a
# virtualenv (no compilers, no pip cache, no sources) and run as an unprivileged numeric user, so they work under
# runAsNonRoot and a read-only root filesystem (bytecode is compiled at build time).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 65532 agent \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin agent

FROM base AS sources
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY agent_image/ agent_image/
COPY localcluster/ localcluster/

FROM sources AS build-agent
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --constraint requirements/constraints.txt ".[agent]" \
 && /opt/venv/bin/pip uninstall --yes pip

FROM sources AS build-operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --constraint requirements/constraints.txt ".[operator]" \
 && /opt/venv/bin/pip uninstall --yes pip

FROM base AS agent
COPY --from=build-agent /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
USER 65532:65532
EXPOSE 8080
# The operator runs it without arguments (config from $AGENT_CONFIG); the scripted model server is the same
# image with args: ["model-server", "--host", "0.0.0.0", "--port", "8000", "--scenarios", "/etc/scenarios.yaml"].
ENTRYPOINT ["agent-runtime"]

FROM base AS operator
COPY --from=build-operator /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
USER 65532:65532
ENTRYPOINT ["agent-supervisor", "operator"]
