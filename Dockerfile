# syntax=docker/dockerfile:1
# backseal: a static binary on a distroless base, run as a non-root user.
#
#   make docker        # docker build --build-arg VERSION=$(git describe ...) -t backseal:VERSION .
#   make build         # the same static binary, without Docker
#
# The sidecar reaches the node's backup service on 127.0.0.1:6186, so the
# container must share the node's network namespace: a second container of
# the node's pod (configs/kubernetes/), or `docker run --network
# container:NODE`. See docs/OPERATIONS.md.
#
# internal/deploytest checks this file: it runs the build line below on the
# build context (.dockerignore applied), checks that the binary is static,
# trimmed and stamped, and runs ENTRYPOINT + CMD and the HEALTHCHECK command.

# Keep in step with go.mod's go directive. For bit-for-bit rebuilds, pin the
# image by digest (golang:1.26@sha256:...).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# As `make build`: no cgo (static), no build paths in the binary (-trimpath),
# stripped, version stamped. The context has no .git (.dockerignore), so the
# binary carries no VCS stamp: VERSION is the version.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/backseal .

# static-debian12: CA certificates, tzdata, /etc/passwd with nonroot; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/backseal /usr/local/bin/backseal
# Every key at its default, documented; override with BACKSEAL_* variables
# or flags after the image name.
COPY configs/backseal.yaml /etc/backseal/backseal.yaml
# nonroot, numeric so that Kubernetes can check runAsNonRoot.
USER 65532:65532
# Public (the nine legacy backup paths) and admin (/healthz, /readyz, /metrics).
EXPOSE 6187 9187
# The check runs inside the container: the admin listener's loopback default
# works. No curl in this image: the binary checks itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/backseal", "health", "--timeout", "3s", "http://127.0.0.1:9187/healthz"]
# SIGTERM drains: /readyz fails at once, in-flight streams get drain_timeout
# (25 s). Give `docker stop` more than that: docker stop -t 35.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/backseal"]
CMD ["serve", "--config", "/etc/backseal/backseal.yaml"]
