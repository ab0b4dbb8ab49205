# Production image: the origin only. PostgreSQL is DATABASE_URL; sources and the
# shared clip store are S3 (see README, Deploy). ffmpeg comes from the imageio-ffmpeg
# wheel, which starts ~5x faster than Debian's build.
#
# Build here (no registry, no daemon): `make image` bootstraps a Debian base with
# mmdebstrap and passes it as `podman build --from`, which replaces the first FROM.
# Anywhere else: `docker build .` or `fly deploy` use the base named below.

FROM python:3.11-slim-bookworm AS python

# Build stage: the project and its dependencies in /opt/venv. Every dependency
# ships a manylinux wheel, so no compiler is needed even here.
FROM python AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# The runtime venv gets no pip: a throwaway venv's pip installs into it.
RUN python3 -m venv /opt/pip && python3 -m venv --without-pip /opt/venv
WORKDIR /src
# Dependencies first, from the metadata alone, so a code change reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir origin pool db \
    && /opt/pip/bin/pip --python /opt/venv/bin/python install --no-compile . \
    && /opt/pip/bin/pip --python /opt/venv/bin/python uninstall -y heaters-origin
COPY origin ./origin
COPY pool ./pool
COPY db ./db
# The runtime user cannot write into the venv, so modules are byte-compiled now:
# otherwise every cold start would compile them all again.
RUN /opt/pip/bin/pip --python /opt/venv/bin/python install --no-compile --no-deps . \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

FROM python
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PORT=8080 \
    ORIGIN_HOME=/data \
    ORIGIN_LOG_FORMAT=json
COPY --from=build /opt/venv /opt/venv
# A fixed uid, so a mounted volume's ownership means the same thing on every deploy.
RUN useradd --uid 10001 --user-group --no-log-init --home-dir /data --create-home \
        --shell /usr/sbin/nologin origin
USER origin
WORKDIR /data
EXPOSE 8080
# Listens on $PORT (fly sets it). uvicorn lets responses finish for
# ORIGIN_SHUTDOWN_GRACE_S after SIGTERM, then the pool kills what is left;
# fly.toml's kill_timeout is longer.
CMD ["origin", "serve", "--host", "0.0.0.0"]
