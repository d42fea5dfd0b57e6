# The sipguard external tree's packages.
include $(sort $(wildcard $(BR2_EXTERNAL_SIPGUARD_PATH)/package/*/*.mk))
