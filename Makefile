# Ferry's one-verb targets. The two that matter: `make dev` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv packages kube image dev dev-down test lint unit bench clean

# Debian packages the real node and the image build need; installed (apt-get update first) when missing.
DEB_PACKAGES := containerd runc containernetworking-plugins iptables debootstrap docker.io gcc libc6-dev
# and what `make bench` needs besides: wrk drives the data-path benchmark (AIStore beside Ferry)
BENCH_PACKAGES := wrk

$(STAMP): pyproject.toml constraints.txt
	@echo "make: creating the virtualenv in $(VENV) ..."
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

packages:
	@missing=$$(for p in $(DEB_PACKAGES) $(if $(filter bench,$(MAKECMDGOALS)),$(BENCH_PACKAGES)); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make: installing Debian packages:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Kubernetes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl),
# helm, CoreDNS and pause, built once per machine from the pinned Go modules into ~/.cache/ferry.
kube: packages
	@hack/kube/build.sh >/dev/null

# Ferry's image from the Dockerfile on a local Debian base (cached; docker.io, no registry), and pause.
image: packages kube
	IMAGE=$(IMAGE) hack/image/build.sh "$$(hack/kube/build.sh 2>/dev/null | tail -n 1)/pause"

dev: $(STAMP) packages kube
	$(BIN)/python -m localkube dev

dev-down: $(STAMP)
	$(BIN)/python -m localkube down

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: $(STAMP) packages kube lint
	PYTEST=$(BIN)/pytest hack/test/run.sh

bench: $(STAMP) packages kube
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# ---------------------------------------------------------------------------------------------------
# kind workflow (needs Docker and kind; not what CI runs here). Everything below is about kind only.
#   make kind-up       a kind cluster from hack/kind/cluster.yaml, kubeconfig in $(KIND_KUBECONFIG)
#   make docker-image  the one Ferry image ($(IMAGE)) from the Dockerfile, with your Docker
#   make kind-load     build it and load it into the kind nodes
#   make kind-deploy   install/upgrade the chart (operator + CRDs) into namespace ferry-system
#   make kind-e2e      the operator e2e suite against kind (FERRY_E2E_KUBECONFIG), pod IPs routed by kind-routes
#   make kind-down     delete the kind cluster
# helm defaults to the pinned build (hack/kube/build.sh); `make kind-deploy HELM=helm` uses one on PATH.
KIND ?= kind
DOCKER ?= docker
KIND_CLUSTER ?= ferry
KIND_KUBECONFIG ?= $(CURDIR)/.dev/kind/kubeconfig
KIND_NODE_IMAGE ?=
IMAGE_REPOSITORY ?= ferry
IMAGE_TAG ?= dev
IMAGE := $(IMAGE_REPOSITORY):$(IMAGE_TAG)
HELM ?= $(shell hack/kube/build.sh 2>/dev/null | tail -n 1)/helm

.PHONY: kind-up kind-down docker-image kind-load kind-deploy kind-routes kind-e2e

kind-up:
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	$(KIND) get clusters | grep -qx '$(KIND_CLUSTER)' || $(KIND) create cluster --name $(KIND_CLUSTER) \
		--config hack/kind/cluster.yaml --kubeconfig $(KIND_KUBECONFIG) --wait 180s \
		$(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE))
	$(KIND) export kubeconfig --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG)

docker-image:
	$(DOCKER) build --tag $(IMAGE) .

kind-load: docker-image
	$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER)

kind-deploy: kind-load
	$(HELM) upgrade --install ferry charts/ferry --kubeconfig $(KIND_KUBECONFIG) \
		--namespace ferry-system --create-namespace \
		--set image.repository=$(IMAGE_REPOSITORY) --set image.tag=$(IMAGE_TAG) --wait --timeout 5m

# The tests (like the operator) talk to storage-node pods by pod IP: route each node's pod CIDR via that node
# (Linux host, kind's docker network; needs root, hence SUDO).
SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)
kind-routes:
	$(HELM:%/helm=%/kubectl) --kubeconfig $(KIND_KUBECONFIG) get nodes -o \
		jsonpath='{range .items[*]}{.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' | \
		while read -r cidr ip; do $(SUDO) ip route replace "$$cidr" via "$$ip"; done

# The operator e2e suite against kind, with the chart's operator (the local-cluster tests need localkube).
kind-e2e: $(STAMP) kind-deploy kind-routes
	FERRY_E2E_KUBECONFIG=$(KIND_KUBECONFIG) $(BIN)/pytest tests/e2e/operator

kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)
