# connscope in a container: the same ./setup.sh as on a stock Debian 12, run at build time.
#   docker build -t connscope .
#   docker run --rm -p 127.0.0.1:8000:8000 --cap-add SYS_ADMIN -e CONNSCOPE_TOKEN=a-secret connscope
# It serves on 0.0.0.0, so control takes a token: CONNSCOPE_TOKEN, or else one printed in
# `docker logs` with the control link; without it visitors get the read-only audience view.
# --cap-add SYS_ADMIN gives each target an empty network namespace; without it targets share
# the container's (the target panel says so). README.md, "In a container", says the rest.
FROM debian:bookworm-slim

WORKDIR /connscope
COPY . .

# setup.sh installs its own apt packages (python3-venv, nodejs, npm), the virtual
# environment with connscope, and the front-end files. libcap2-bin lends setcap: `unshare`
# gets CAP_SYS_ADMIN as a file capability so the unprivileged user can make a target's
# network namespace; the capability is used only when the container is given it
# (--cap-add SYS_ADMIN), and the target it starts runs without it.
# libcap2-bin is not pinned: Debian stable keeps one version, a pin would break the build
# at its next point release.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libcap2-bin \
 && ./setup.sh \
 && setcap cap_sys_admin+ep /usr/bin/unshare \
 && apt-get purge -y -qq libcap2-bin \
 && rm -rf /var/lib/apt/lists/* /root/.cache /root/.npm \
 && useradd --create-home --uid 10001 connscope

USER 10001:10001
ENV PATH=/connscope/.venv/bin:$PATH
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["connscope", "--host", "0.0.0.0", "--port", "8000"]
