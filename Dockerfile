# syntax=docker/dockerfile:1
# callgate's container image. Two stages: the first builds callgate's wheel and fetches its
# dependencies as binary wheels; the second installs them into a virtual environment from those
# wheels alone, so the final image holds no compiler, no pip and no build tools.
#
#   docker build -t callgate .
#   docker run -p 8700:8700 -v "$PWD/my-config:/etc/callgate:ro" -v callgate-audit:/var/lib/callgate/audit \
#       -e CALLGATE_ALLOWED_HOSTS=callgate.example.com callgate
#
# Configuration: a directory with policies/ and tool_specs/, mounted (read-only) at /etc/callgate.
# The image carries the shipped demo configuration there, which `serve` refuses to expose off
# loopback (its keys are public): mount your own. The audit trail goes to the volume
# /var/lib/callgate/audit. deploy/image-steps.sh holds the install steps (a test runs them too).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY deploy/image-steps.sh /usr/local/bin/callgate-image-steps
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY agent_runtime ./agent_runtime
RUN callgate-image-steps build /src /wheels

FROM ${PYTHON_IMAGE} AS final
LABEL org.opencontainers.image.title="callgate" \
      org.opencontainers.image.description="A secure tool gateway and policy-enforcement proxy for AI agents" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY deploy/image-steps.sh /usr/local/bin/callgate-image-steps
COPY --from=build /wheels /tmp/wheels
COPY policies /etc/callgate/policies
COPY tool_specs /etc/callgate/tool_specs
# One user, no login, no home; it owns only the audit directory.
RUN callgate-image-steps install /tmp/wheels /opt/callgate \
    && callgate-image-steps check /opt/callgate /etc/callgate \
    && rm -rf /tmp/wheels /usr/local/bin/callgate-image-steps \
    && groupadd --system --gid 10001 callgate \
    && useradd --system --uid 10001 --gid callgate --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin callgate \
    && mkdir -p /var/lib/callgate/audit \
    && chown callgate:callgate /var/lib/callgate/audit \
    && chmod 0750 /var/lib/callgate/audit

ENV PATH=/opt/callgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CALLGATE_CONFIG_DIR=/etc/callgate \
    CALLGATE_AUDIT_DIR=/var/lib/callgate/audit \
    CALLGATE_LOG_FORMAT=json
VOLUME ["/var/lib/callgate/audit"]
USER 10001:10001
WORKDIR /var/lib/callgate
EXPOSE 8700
# Liveness from inside the container; Host must be allowed, so it names localhost, which
# CALLGATE_ALLOWED_HOSTS (or server.allowed_hosts) then has to include.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; r = u.Request('http://127.0.0.1:8700/healthz', headers={'Host': 'localhost'}); sys.exit(0 if u.urlopen(r, timeout=4).status == 200 else 1)"]
# SIGTERM drains: no new connections, calls in flight finish, the trail is checkpointed, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["callgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8700"]
