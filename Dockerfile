# One image for every citytraffic service (ingest, api, simulators); docker-compose.yml picks the
# subcommand. Build: docker build -t citytraffic:0.1.0 .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY citytraffic ./citytraffic
COPY ingest ./ingest
COPY forecasting ./forecasting
COPY control ./control
COPY api ./api
COPY maps ./maps
COPY simulators ./simulators
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/citytraffic --shell /usr/sbin/nologin citytraffic \
    && mkdir -p /var/lib/citytraffic \
    && chown citytraffic:citytraffic /var/lib/citytraffic

USER citytraffic
WORKDIR /var/lib/citytraffic
ENV CITYTRAFFIC_DATA_DIR=/var/lib/citytraffic
CMD ["citytraffic", "--help"]
