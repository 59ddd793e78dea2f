"""A local machine for proving profiles: a Debian base image built from Debian's packages, booted
with QEMU and a NoCloud seed, observed through its serial console. No cloud account needed."""
