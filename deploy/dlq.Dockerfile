# The dead-letter sink and its tools: the breakwater command (dlq serve,
# list, replay, purge), built statically from this repository.
#
#   docker build -f deploy/dlq.Dockerfile -t breakwater/dlq:0.1.0 .
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /breakwater ./cmd/breakwater

FROM scratch
COPY --from=build /breakwater /breakwater
USER 65534:65534
EXPOSE 8090
ENTRYPOINT ["/breakwater"]
