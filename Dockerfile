FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY nearline nearline
COPY schemas schemas
COPY streams streams
COPY models models
COPY scoring scoring
COPY replay replay
COPY labels labels
RUN pip install --no-cache-dir .
ENV NEARLINE_WEB_HOST=0.0.0.0 NEARLINE_DATA_DIR=/var/lib/nearline
EXPOSE 6066
CMD ["nearline", "worker", "--loglevel", "info"]
