# epcflow: one static binary for every production role (worker, api, sandbox, start, replay),
# built lean: without the embedded Temporal server and Web UI (scripts/build-production; `dev`,
# `bench` and `chaos` need a full build: go build .).
# Build: docker build -t epcflow .
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/build-production /out/epcflow && mkdir -p /out/data/blobs /out/data/sandbox

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/epcflow /usr/local/bin/epcflow
# Mount points owned by the user epcflow runs as, so that volumes mounted there (shared blob
# store, sandbox state) start writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/epcflow"]
CMD ["help"]
