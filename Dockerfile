# Production image: the origin only (PostgreSQL is DATABASE_URL, sources are S3).
# ffmpeg comes from the imageio-ffmpeg wheel, which starts ~5x faster than Debian's.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ORIGIN_HOME=/data ORIGIN_CACHE_DIR=/data/cache
WORKDIR /app
COPY pyproject.toml README.md ./
COPY origin ./origin
COPY pool ./pool
COPY db ./db
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /data --create-home origin
USER origin
EXPOSE 8080
# uvicorn lets responses finish for ORIGIN_SHUTDOWN_GRACE_S after SIGTERM,
# then the pool kills what is left; fly.toml's kill_timeout is longer.
CMD ["origin", "serve", "--host", "0.0.0.0", "--port", "8080"]
