# Paperclip in one image: the server with embedded PostgreSQL 17 (Debian's), state in /paperclip.
#
#   docker build -t paperclip .
#   docker run -d -p 3100:3100 -v "$PWD/data/docker-paperclip:/paperclip" \
#     -e PAPERCLIP_PUBLIC_URL=http://localhost:3100 paperclip
#   docker exec <container> paperclipai auth bootstrap-ceo     # the first admin's invite link
#
# Set DATABASE_URL to use an external PostgreSQL instead (docker-compose.yml does).

FROM rust:1-trixie AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY examples examples
RUN cargo build --release --locked -p paperclip-cli \
 && strip target/release/paperclipai

FROM debian:trixie-slim
# postgresql-17: the embedded cluster's server (initdb, postgres) and the client tools that
# backups use (pg_dump, pg_restore, psql for `paperclipai db shell`). git, for agents' workspaces.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-17 ca-certificates git tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --home-dir /home/paperclip --uid 1000 --user-group paperclip \
 && mkdir -p /paperclip && chown paperclip:paperclip /paperclip
COPY --from=build /src/target/release/paperclipai /usr/local/bin/paperclipai
COPY docker/entrypoint.sh /usr/local/bin/paperclip-entrypoint

ENV PAPERCLIP_HOME=/paperclip \
    PAPERCLIP_INSTANCE_ID=default \
    PAPERCLIP_PG_BIN_DIR=/usr/lib/postgresql/17/bin \
    PAPERCLIP_DEPLOYMENT_MODE=authenticated \
    PAPERCLIP_DEPLOYMENT_EXPOSURE=private \
    HOST=0.0.0.0 \
    PORT=3100
USER paperclip
VOLUME ["/paperclip"]
EXPOSE 3100
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD paperclipai health --api-base "http://127.0.0.1:${PORT}" || exit 1
ENTRYPOINT ["tini", "--", "paperclip-entrypoint"]
CMD ["run"]
