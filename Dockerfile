# dialerd and fsim in one small image.
#   docker build -t fsdialer .
#   docker run --rm fsdialer dialerd demo -listen 0.0.0.0:8080   (everything in one process)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/dialerd ./cmd/dialerd \
 && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/fsim ./cmd/fsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dialerd /out/fsim /usr/local/bin/
COPY deploy/dialerd.yaml /etc/fsdialer/dialerd.yaml
COPY deploy/fsim-scenario.yaml /etc/fsdialer/fsim-scenario.yaml
EXPOSE 8080
ENTRYPOINT []
CMD ["dialerd", "run", "-config", "/etc/fsdialer/dialerd.yaml"]
