# keyway: multi-stage build; the runtime image holds the binary and CA certificates only.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p keyway-cli

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/keyway /usr/local/bin/keyway
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keyway"]
