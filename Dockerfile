# connscope in a container. Targets get their own network namespace only when the
# container may create one (docker run --cap-add SYS_ADMIN); otherwise the dashboard says
# so and targets share the container's namespace.
FROM python:3.11-slim-bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /connscope
COPY . .
RUN ./setup.sh
EXPOSE 8000
CMD ["connscope", "serve", "--host", "0.0.0.0", "--port", "8000"]
