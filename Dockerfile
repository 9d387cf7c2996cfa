# The one Ferry image: the operator (default command) and the storage node (`python -m storage_node`).
# Slim, non-root, every Python dependency pinned by constraints.txt. Build: `docker build .` (users) or
# `make image` (here: the same file on a local Debian base, hack/image/build.sh).
# PYTHON_IMAGE: any Debian-based image with `python` (3.11+) and venv; PIP_CERT: a CA bundle inside that image
# for pip to trust (empty: pip's own).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_CERT=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
# Dependencies first, in a layer of their own (empty packages stand in for the sources), so that a change to
# the sources rebuilds only the layers below.
RUN mkdir -p node/storage_node operator/storage_operator \
 && touch node/storage_node/__init__.py operator/storage_operator/__init__.py \
 && python -m venv /opt/ferry \
 && /opt/ferry/bin/pip install ${PIP_CERT:+--cert "$PIP_CERT"} --constraint constraints.txt --no-compile . \
 && /opt/ferry/bin/pip uninstall --yes ferry \
 && rm -rf node operator build ./*.egg-info
COPY node/ node/
COPY operator/ operator/
RUN /opt/ferry/bin/pip install ${PIP_CERT:+--cert "$PIP_CERT"} --constraint constraints.txt --no-compile --no-deps . \
 && rm -rf build ./*.egg-info \
 && /opt/ferry/bin/python -m compileall -q /opt/ferry/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ferry" \
      org.opencontainers.image.description="Ferry: Kubernetes operator and storage node for the lifecycle of object-store nodes"
COPY --from=build /opt/ferry /opt/ferry
# A numeric user, so that runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 ferry \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ferry
ENV PATH=/opt/ferry/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8080 8081 9090
CMD ["kopf", "run", "-m", "storage_operator", "--all-namespaces", "--liveness=http://0.0.0.0:8081/healthz"]
