# epcflow: one static binary for every role (worker, api, sandbox, dev).
# Build: docker build -t epcflow .
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/epcflow .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/epcflow /usr/local/bin/epcflow
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/epcflow"]
CMD ["help"]
