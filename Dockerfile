# Build: docker build -t descoberta .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates python3-pip unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/descoberta /usr/local/bin/descoberta
COPY metadata ./metadata
COPY prompts ./prompts
COPY scripts ./scripts
ENV DESCOBERTA_BIND=0.0.0.0:8080 \
    DESCOBERTA_DATA_DIR=/app/data \
    DESCOBERTA_METADATA_DIR=/app/metadata
EXPOSE 8080
CMD ["descoberta", "serve"]
