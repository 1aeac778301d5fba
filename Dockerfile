# Development image: the source is mounted over /app, uvicorn reloads on change.
#   docker build -t voice-api:dev . && docker run --rm -p 8000:8000 -v "$PWD:/app" voice-api:dev
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install -e ".[dev]"
COPY . .

EXPOSE 8000
CMD ["sh", "-c", "scripts/migrate && uvicorn src.main:app --host 0.0.0.0 --port 8000 --reload --forwarded-allow-ips \"$(python -m src.config trusted-proxies)\""]
