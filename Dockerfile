# syntax=docker/dockerfile:1
# wardwatch: both binaries in one small image, built in two stages.
#
#   docker build -t wardwatch .                      # final stage `exporter`: runs wardwatch-exporter
#   docker build --target sidecar -t wardwatch-sidecar .
#
# docker-compose.yml builds the two targets. Both carry both binaries; they differ only in
# EXPOSE, ENTRYPOINT and HEALTHCHECK.

# ---- builder: release binaries -------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The release profile keeps debug info for profiling benchmarks; the image does not need it.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the `scrape` bench, so its source must exist for the manifest to load.
COPY benches ./benches
# The registry and target caches survive between builds; the binaries are copied out of the
# cache mount within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin wardwatch-exporter --bin wardwatch-sidecar \
    && install -D -m 0755 -t /out target/release/wardwatch-exporter target/release/wardwatch-sidecar

# ---- runtime: the shared base of both targets -----------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: the sidecar talks TLS to Gmail and Slack.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 wardwatch \
    && useradd --system --uid 10001 --gid wardwatch --home-dir /var/lib/wardwatch --no-create-home wardwatch \
    && install -d -o wardwatch -g wardwatch -m 0750 /var/lib/wardwatch
COPY --from=builder /out/wardwatch-exporter /out/wardwatch-sidecar /usr/local/bin/
# A health probe that needs neither curl nor wget: bash's /dev/tcp.
COPY deploy/http-ok /usr/local/bin/http-ok
# The sidecar's queue and file channel live here (a volume in docker-compose.yml); a new named
# volume takes this directory's owner.
WORKDIR /var/lib/wardwatch
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# ---- sidecar: the Alertmanager webhook receiver ---------------------------------------------
FROM runtime AS sidecar
EXPOSE 10465
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["http-ok", "10465", "/-/ready"]
ENTRYPOINT ["wardwatch-sidecar"]

# ---- exporter: the simulated hospital (the default target) ----------------------------------
FROM runtime AS exporter
EXPOSE 10464
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["http-ok", "10464", "/-/healthy"]
ENTRYPOINT ["wardwatch-exporter"]
