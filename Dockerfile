# syntax=docker/dockerfile:1
#
# promshard container images, built from this checkout:
#   docker build -t promshard .                                # coordinator + sidecar
#   docker build --target loadgen -t promshard-loadgen .       # example workload (deploy/overlays/example)
#
# Builder: the official Rust image on Debian bookworm. The runtime image below
# is Debian 12 (bookworm) too, so the binary runs against the same glibc it
# was linked with.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Release build of the two binaries only (not the benches or the fuzz crate).
# Without debug info and stripped: the repository's release profile keeps line
# tables for profiling, which triples the binary's size in an image nobody
# profiles. The cache mounts keep the registry and target directory between
# builds; the binaries are copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=none CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked -p promshard -p promshard-loadgen \
    && mkdir -p /out \
    && cp target/release/promshard target/release/promshard-loadgen /out/

# Runtime: distroless "cc" (glibc, libgcc_s, CA certificates, tzdata; no
# shell, no package manager), as its built-in non-root user (65532). The
# binaries need only libc, libm and libgcc_s (ldd).
# Why not a static musl binary on distroless/static or scratch: every test of
# this repository runs the glibc build, and the musl build (ring and mimalloc
# compile C code for it) could not be built or tested where this repository
# is developed; the image ships what the tests cover. It is still small: the
# binary plus about 25 MB.
FROM gcr.io/distroless/cc-debian12:nonroot AS loadgen
COPY --from=builder /out/promshard-loadgen /usr/local/bin/promshard-loadgen
USER 65532:65532
EXPOSE 9300
ENTRYPOINT ["/usr/local/bin/promshard-loadgen"]

# The default (last) stage: `promshard coordinator` and `promshard sidecar`
# (deploy/ passes the subcommand as the container's args).
FROM gcr.io/distroless/cc-debian12:nonroot AS promshard
COPY --from=builder /out/promshard /usr/local/bin/promshard
USER 65532:65532
# 8080: sidecar API; 8008: sidecar scrape proxy (loopback by default);
# 8090: coordinator API.
EXPOSE 8080 8090
ENTRYPOINT ["/usr/local/bin/promshard"]
