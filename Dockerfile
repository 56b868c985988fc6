# webhookd in a container: one static binary on an empty base.
#
#   docker build -t webhookd .
#   docker run -d --name webhookd --init --stop-timeout 45 -p 9000:9000 \
#     -v /etc/webhookd:/etc/webhookd:ro -v webhookd-data:/var/lib/webhookd \
#     -e GITHUB_SECRET=... webhookd
#
# The config is read from /etc/webhookd/webhookd.toml; put the database in
# the volume: [store] path = "/var/lib/webhookd/webhookd.db". The image has
# no shell and no tools: it suits HTTP actions (relaying a delivery inward).
# For command actions, build FROM an image that has what your scripts need
# and COPY the binary in (COPY --from=webhookd /webhookd /usr/local/bin/).
# --init runs a small init as PID 1 that reaps the processes a script
# leaves behind: webhookd waits only for its own children, and as PID 1
# the orphans would stay zombies, one more with every such run.
# --stop-timeout gives running actions their shutdown_timeout (30 s by
# default) and the 10 s they then have to clean up after a SIGTERM,
# before Docker's SIGKILL (10 s by default): keep it 15 s above
# shutdown_timeout.
# Its admin API listens on loopback inside the container by default; use
# `docker exec webhookd /webhookd events` and the other commands there.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
	-o /out/webhookd . \
	&& mkdir -p /out/tmp /out/var/lib/webhookd /out/etc/webhookd \
	&& chmod 1777 /out/tmp

FROM scratch
# CA roots, for HTTP actions to https:// URLs and for ACME.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# A temp dir (the payload file each run gets) and the state directory,
# owned by the unprivileged user the daemon runs as.
COPY --from=build /out/tmp /tmp
COPY --from=build --chown=65532:65532 /out/var/lib/webhookd /var/lib/webhookd
COPY --from=build /out/etc/webhookd /etc/webhookd
COPY --from=build /out/webhookd /webhookd
USER 65532:65532
ENV WEBHOOKD_CONFIG=/etc/webhookd/webhookd.toml
VOLUME /var/lib/webhookd
EXPOSE 9000
ENTRYPOINT ["/webhookd"]
CMD ["serve"]
