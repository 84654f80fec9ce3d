# keyway: multi-stage build; the runtime image holds the binary and CA certificates only.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# --no-default-features: without keyway-cli's `dev` feature, so the image has no `keyway demo` or
# `keyway dev`, no emulated Entra ID / Key Vault and no test PKI (rcgen);
# crates/keyway-cli/tests/features.rs holds that build to it.
RUN cargo build --release --locked -p keyway-cli --no-default-features

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/keyway /usr/local/bin/keyway
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keyway"]
