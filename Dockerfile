# 催收维权助手 — one image for every worker (Telegram polling/webhook, WeChat) and for the NLU server.
# Build: docker build -t cuishou-bot .     Several workers: docker compose up (docker-compose.yml, README "Scale-out").
# No secret is baked in: TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, BOT_DATA_KEY, BOT_STORE_URL come from the
# environment at run time.
FROM python:3.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    PATH=/app/.venv/bin:$PATH

RUN apt-get update && apt-get install -y --no-install-recommends make libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 bot
WORKDIR /app

# Dependencies first (cached layer): the same pinned install as `make setup`.
COPY requirements.txt constraints.txt ./
COPY scripts/ scripts/
RUN python -m venv .venv && .venv/bin/python -m pip install --no-cache-dir "pip==26.3" \
    && .venv/bin/python -m pip install --no-cache-dir -r requirements.txt -c constraints.txt \
    && .venv/bin/python -m pip check

# Then the code, content and training data; the model is trained at build time, and so are the SMS assessment's
# learned layer and pre-filter database (.cache/assess; rebuilt at run time if the CPU differs from the builder's).
COPY . .
RUN .venv/bin/python -m bot train \
    && .venv/bin/python -c "from bot.assess.engine import prepare; from bot.assess.learned import get_classifier; \
get_classifier(); prepare()" \
    && mkdir -p data .cache && chown -R bot:bot data rasa_project .cache

USER bot
VOLUME ["/app/data"]
# Webhook mode listens on telegram.webhook.port (config.yaml); GET /health on the same port.
EXPOSE 8443
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 CMD ["python", "-m", "bot", "health"]
CMD ["python", "-m", "bot", "run"]
