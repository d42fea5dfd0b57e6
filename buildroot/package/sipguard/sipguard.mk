################################################################################
#
# sipguard
#
################################################################################

# Built from the tree this external tree lives in.
SIPGUARD_VERSION = $(shell git -C $(BR2_EXTERNAL_SIPGUARD_PATH)/.. describe --tags --always --dirty 2>/dev/null || echo dev)
SIPGUARD_SITE = $(BR2_EXTERNAL_SIPGUARD_PATH)/..
SIPGUARD_SITE_METHOD = local
# Build output kept inside the tree (make's out/, an O= folder there) is
# not source.
SIPGUARD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude=/out

SIPGUARD_GOMOD = github.com/sipguard/sipguard
SIPGUARD_BUILD_TARGETS = cmd/sipguard
SIPGUARD_BIN_NAME = sipguard
# Static, whatever the toolchain: the box has no C library.
SIPGUARD_GO_ENV = CGO_ENABLED=0
SIPGUARD_LDFLAGS = -s -w -X main.version=$(SIPGUARD_VERSION)

# Buildroot builds Go packages from a vendor/ folder with the module
# proxy off; a local source has not been through the download step that
# vendors, so its modules are vendored here, through SIPGUARD_GOPROXY,
# unless the tree already has a vendor/ folder (go mod vendor): then the
# build needs no network.
SIPGUARD_GOPROXY ?= https://proxy.golang.org,direct

define SIPGUARD_VENDOR
	if [ ! -f $(@D)/vendor/modules.txt ]; then \
		cd $(@D) && $(HOST_GO_COMMON_ENV) GOFLAGS=-mod=mod \
			GOPROXY="$(SIPGUARD_GOPROXY)" $(GO_BIN) mod vendor; \
	fi
endef
SIPGUARD_PRE_BUILD_HOOKS += SIPGUARD_VENDOR

# The binary is the init; the mount points and folders are those of every
# root of the box (image.Dirs, without the initramfs' newroot).
SIPGUARD_DIRS = dev proc sys run tmp data etc

define SIPGUARD_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/bin/sipguard $(TARGET_DIR)/sbin/init
	$(foreach d,$(SIPGUARD_DIRS),mkdir -p $(TARGET_DIR)/$(d)$(sep))
endef

$(eval $(golang-package))
