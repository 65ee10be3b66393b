# swarmscope serve in a container: `docker build -t swarmscope .` then
# `docker run -p 4318:4318 -p 4317:4317 -v swarmscope-data:/data swarmscope`.
# tests/test_deploy.py runs this file's COPY/RUN/CMD/HEALTHCHECK steps (no container engine there):
# keep every RUN a plain shell command and CMD/HEALTHCHECK in exec form.

# Build stage: a wheel from a copy of the tree (the build context can be read-only).
FROM python:3.12-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Runtime: the wheel with the server extra, run as a non-root user, data in a volume.
FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir "$(ls /wheels/swarmscope-*.whl)[server]" && rm -rf /wheels
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin swarmscope \
    && mkdir -p /data && chown swarmscope /data
USER swarmscope
WORKDIR /data
VOLUME /data
EXPOSE 4318 4317
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4318/healthz', timeout=4)"]
CMD ["swarmscope", "serve", "--host", "0.0.0.0", "--data", "/data/store", "--wal", "/data/ingest-wal"]
