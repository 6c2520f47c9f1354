# Tollgate and the demo service in one small image. The entrypoint is
# tollgate; docker-compose.yaml runs the demo services from the same image
# with entrypoint demo-service. Envoy runs from its own image.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so code changes do not download modules again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binaries: the runtime image has no libc. The build context has no
# .git: pass the version (docker build --build-arg VERSION=$(git describe)).
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/tollgate ./cmd/tollgate && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/demo-service ./cmd/demo-service && \
    mkdir -p /out/empty

# distroless: no shell or package manager to exploit; :nonroot runs as
# uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tollgate /out/demo-service /usr/local/bin/
# Directories the non-root user writes, created here so that a named volume
# mounted on one starts owned by nonroot (Docker copies a new volume's
# owner from the image): Envoy's bootstrap that `tollgate bootstrap`
# writes, the API keys file and its last-used times, and the last good
# policy generation (--state-dir). See docker-compose.yaml.
COPY --from=build --chown=nonroot:nonroot /out/empty /envoy-bootstrap
COPY --from=build --chown=nonroot:nonroot /out/empty /policy/keys
COPY --from=build --chown=nonroot:nonroot /out/empty /var/lib/tollgate
USER nonroot:nonroot
# 18000: xDS/ADS gRPC for Envoy; 18001: admin HTTP (health, metrics).
EXPOSE 18000 18001
# No shell or curl here: the binary checks its own readiness.
HEALTHCHECK CMD ["/usr/local/bin/tollgate", "health", "http://127.0.0.1:18001/readyz"]
ENTRYPOINT ["/usr/local/bin/tollgate"]
# Plaintext gRPC on every interface of the container must be asked for
# (--insecure-grpc): it is for a private container network. Anywhere else,
# serve mutual TLS instead (--grpc-tls-cert, --grpc-tls-key,
# --grpc-client-ca; docs/operations.md, "Securing the gRPC port").
CMD ["serve", "--policy", "/policy", "--grpc-addr", "0.0.0.0:18000", "--insecure-grpc", "--admin-addr", "0.0.0.0:18001"]
