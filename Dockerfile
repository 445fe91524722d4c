# PayDock API image: one image for every role (API node, webhook worker, billing run,
# migrations); the command picks the role: `serve` (default), `worker`, `bill`, `migrate`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The sources in /app come first, so gunicorn.conf.py and openapi.yaml are found beside them.
    PYTHONPATH=/app \
    PAYDOCK_HOST=0.0.0.0 \
    PAYDOCK_PORT=8000

WORKDIR /app

# Dependencies first (a layer that changes only when pyproject.toml does).
COPY pyproject.toml README.md ./
RUN mkdir -p paydock handlers models/documents models/migrations webhooks \
    && touch paydock/__init__.py handlers/__init__.py models/__init__.py \
             models/documents/__init__.py models/migrations/__init__.py webhooks/__init__.py \
    && pip install . \
    && pip uninstall -y paydock

COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app paydock

USER paydock
EXPOSE 8000

# Liveness only: readiness (database + migrations) is GET /api/ready, for the load balancer.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2)"]

ENTRYPOINT ["paydock"]
CMD ["serve"]
