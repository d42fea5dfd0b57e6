# sipguard — make is the front door. `make help` lists the targets.

# `sudo` resets the PATH; Go's own install place is searched last.
export PATH := $(PATH):/usr/local/go/bin
GO          ?= go
# A semantic version: the last v* tag, or v0.0.<commits>+<commit> between tags.
VERSION     ?= $(shell git describe --tags --match 'v*' 2>/dev/null || echo v0.0.$$(git rev-list --count HEAD 2>/dev/null || echo 0)+$$(git rev-parse --short HEAD 2>/dev/null || echo dev))
# The signing key of images and update bundles; a throwaway development key
# is made when none is given. Its public key is baked into the firmware.
SIGNING_KEY ?= $(OUT)/keys/dev-signing.pem
TRUSTED_KEYS ?=
LDFLAGS     := -s -w -X main.version=$(VERSION) -X github.com/sipguard/sipguard/image/manifest.trustedKeys=$(TRUSTED_KEYS)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
OUT         := out

# The Debian packages `make demo` and `make test` install when missing (as root).
DEMO_PACKAGES := iproute2 kamailio sipvicious
TEST_PACKAGES := e2fsprogs util-linux iproute2 nftables iperf3 dnsmasq-base chrony kamailio sipvicious sip-tester crowdsec chromium \
	ca-certificates git make qemu-system-arm genimage mtools dosfstools squashfs-tools debian-archive-keyring

BOARD       ?= rpi4
DEBS        := $(OUT)/debs
EPOCH       ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# The clock counts as plausible from the build on (docs/management.md).
LDFLAGS     += -X github.com/sipguard/sipguard/cmd/sipguard/internal/netmgmt.buildEpoch=$(EPOCH)

.PHONY: help build build-arm64 cli debs image image-test test test-short fuzz bench lint demo clean check-tree deps-demo deps-test

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build sipguard for this machine into out/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(OUT)/sipguard ./cmd/sipguard
	CGO_ENABLED=0 $(GO) build -trimpath -o $(OUT)/sipguard-lab ./cmd/sipguard-lab

build-arm64: ## build the static arm64 binary for the box into out/arm64/
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(OUT)/arm64/sipguard ./cmd/sipguard

# The command line of a laptop: the same binary, which talks to a box over
# HTTPS with --box. CLI_PACKAGES are the packages it works through, vetted
# for Windows too.
CLI_TARGETS  := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
CLI_PACKAGES := ./cmd/sipguard/internal/api ./cmd/sipguard/internal/cli ./cmd/sipguard/internal/knownboxes ./cmd/sipguard/internal/atomicfile

cli: ## cross-build sipguard for laptops into out/cli/ (Linux, macOS, Windows; amd64 and arm64)
	@for t in $(CLI_TARGETS); do os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "out/cli/sipguard-$$os-$$arch$$ext"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(OUT)/cli/sipguard-$$os-$$arch$$ext ./cmd/sipguard || exit 1; \
	done

debs: $(DEBS)/VERSIONS ## fetch and unpack Debian's arm64 kernel and the Pi firmware into out/debs

$(DEBS)/VERSIONS: image/fetch-debs.sh
	bash image/fetch-debs.sh $(DEBS)

image: debs $(SIGNING_KEY) ## build the signed SD card image out/sipguard-$(BOARD).img and its update bundle (BOARD=rpi4|qemu, SIGNING_KEY=key.pem)
	$(MAKE) build-arm64 TRUSTED_KEYS=$$($(GO) run ./cmd/sipguard-image pubkey $(SIGNING_KEY))
	SOURCE_DATE_EPOCH=$(EPOCH) $(GO) run ./cmd/sipguard-image --board $(BOARD) --version $(VERSION) --key $(SIGNING_KEY) \
		--debs $(DEBS) --binary $(OUT)/arm64/sipguard --out $(OUT)/sipguard-$(BOARD).img

$(OUT)/keys/dev-signing.pem:
	@echo "*** no SIGNING_KEY given: signing with a THROWAWAY DEVELOPMENT KEY, $@"
	@echo "*** boxes flashed with this image take updates signed with that key only"
	$(GO) run ./cmd/sipguard-image keygen $@

image-test: deps-test debs ## boot the QEMU board's image in an emulated arm64 box between namespaces (root)
	SIPGUARD_DEBS=$(abspath $(DEBS)) $(GO) test -count=1 -run 'QEMU' -v ./image

deps-demo: ## install the Debian packages of the demo that are missing (root)
	@bash .ci/apt-install $(DEMO_PACKAGES)

deps-test: ## install the Debian packages of the tests that are missing (root)
	@bash .ci/apt-install $(TEST_PACKAGES)

# Nothing built is kept in git. `git ls-files -s --eol` gives each staged
# file's mode and whether git sees binary content (i/-text); those, and every
# executable file (mode 100755), are read from the index: an ELF, Mach-O or
# PE header fails, and so does an executable that is not a #! script.
check-tree: ## fail if git tracks a built binary (ELF, Mach-O, PE, or an executable that is not a #! script)
	@tab=$$(printf '\t'); git -c core.quotepath=off ls-files -s --eol | { bad=0; while IFS=$$tab read -r meta eol path; do \
		mode=$${meta%% *}; \
		case "$$mode $$eol" in 160000*) continue ;; 100755*|*i/-text*) ;; *) continue ;; esac; \
		set -- $$(git cat-file blob ":$$path" | od -An -tx1 -N4); \
		case "$$1$$2$$3$$4" in \
		7f454c46) why="an ELF binary" ;; \
		feedface|feedfacf|cefaedfe|cffaedfe|cafebabe) why="a Mach-O binary" ;; \
		4d5a*) why="a PE (Windows) binary" ;; \
		2321*) why= ;; \
		*) if [ "$$mode" = 100755 ]; then why="executable (mode 100755) but not a #! script"; else why=; fi ;; \
		esac; \
		if [ -n "$$why" ]; then echo "check-tree: $$path is tracked and is $$why" >&2; bad=1; fi; \
	done; \
	if [ $$bad = 1 ]; then echo "check-tree: nothing built is kept in git: git rm --cached it (a data file marked executable: git update-index --chmod=-x)" >&2; fi; \
	exit $$bad; }

FUZZTIME    ?= 15s

test: check-tree deps-test debs ## run every test (as root: the network-namespace and QEMU tests too; the browser's screenshots kept in out/artifacts), then fuzz for FUZZTIME
	$(GO) vet ./...
	SIPGUARD_DEBS=$(abspath $(DEBS)) SIPGUARD_ARTIFACTS=$(abspath $(OUT)/artifacts) $(GO) test -count=1 -timeout 20m ./...
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build -o /dev/null ./cmd/sipguard
	GOOS=windows $(GO) vet $(CLI_PACKAGES)
	$(MAKE) fuzz

fuzz: ## fuzz the SIP parser, frame decoder and TCP framing for FUZZTIME each (default 20s)
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sip
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./sip
	$(GO) test -run '^$$' -fuzz '^FuzzStreams$$' -fuzztime $(FUZZTIME) ./sip

test-short: ## unit tests only (no root, no namespaces)
	$(GO) test -short ./...

bench: ## benchmarks (root: 1M-entry set load vs nft -f, bridge throughput)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo: deps-demo build ## run the box in a namespace lab (root): traffic crosses, a ban takes effect
	$(OUT)/sipguard-lab demo --sipguard $(OUT)/sipguard

clean: ## remove build output
	rm -rf $(OUT)
