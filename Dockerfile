# keyway: multi-stage build; the runtime image holds the binary and CA certificates only.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# make: tikv-jemalloc-sys builds jemalloc, the binary's allocator, from source.
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
COPY . .
# --no-default-features: without keyway-cli's `dev` feature, so the image has no `keyway demo` or
# `keyway dev`, no emulated Entra ID / Key Vault and no test PKI (rcgen);
# crates/keyway-cli/tests/features.rs holds that build to it.
# --profile image (Cargo.toml): whole-program optimisation for size, which the controller's
# resident memory at the edge is worth a slower build.
RUN cargo build --profile image --locked -p keyway-cli --no-default-features

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/image/keyway /usr/local/bin/keyway
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keyway"]
