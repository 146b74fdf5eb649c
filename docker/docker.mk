# Container image, load balancer and their tests (included from the Makefile).
#
#   make docker-image      gradserve:latest from docker/Dockerfile (and the
#                          debian:bookworm-slim base, debootstrapped if absent)
#   make docker-lb-image   gradserve-lb:latest (nginx) from docker/nginx
#   make docker-up         both, then two replicas + nginx on 127.0.0.1:8080
#   make docker-down       stop and remove that stack
#   make test-docker       build everything and run docker/test.sh (container,
#                          two replicas behind nginx, k8s manifests)
#
# Each installs what it needs from Debian when missing: docker.io (engine and
# client), debootstrap (base image without Docker Hub), docker-compose (Debian
# 12 ships Compose v1; the Compose plugin is used instead where installed),
# nodejs/npm (the k8s manifest check). dockerd is started when not running.

PKGS_DOCKER := docker.io debootstrap docker-compose iptables python3 python3-numpy curl
DOCKER_COMPOSE_FILE := docker/compose.yaml

.PHONY: deps-docker docker-image docker-lb-image docker-up docker-down test-docker

deps-docker:
	$(call install_missing,$(PKGS_DOCKER))

docker-image: deps-docker
	bash docker/build.sh gradserve

docker-lb-image: deps-docker
	bash docker/build.sh lb

# `docker compose` (plugin) when present, else Debian's docker-compose.
DOCKER_COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)

docker-up: deps-docker
	bash docker/build.sh all
	$(DOCKER_COMPOSE) -f $(DOCKER_COMPOSE_FILE) -p gradserve up -d --no-build
	@echo "gradserve behind nginx: http://127.0.0.1:$${GRADSERVE_LB_PORT:-8080}"

docker-down:
	$(DOCKER_COMPOSE) -f $(DOCKER_COMPOSE_FILE) -p gradserve down --remove-orphans

# The native server is built too: the container's answers are compared with it.
test-docker: deps-docker deps-build deps-node
	@$(MAKE) --no-print-directory build-all
	@BUILD=$(BUILD) bash docker/test.sh
