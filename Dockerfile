FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY adapters adapters
COPY detection detection
COPY workflows workflows
COPY consent consent
COPY notifications notifications
COPY store store
COPY core core
COPY presentations presentations
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/spoedplein spoedplein \
    && mkdir -p /var/lib/spoedplein/metrics && chown -R spoedplein /var/lib/spoedplein
USER spoedplein
EXPOSE 8000 2575
CMD ["spoedplein", "serve"]
