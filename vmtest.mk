# make vmtest: Hearth's GPIO drivers (relay, contact, bolt) against a real
# kernel's GPIO character device, in Debian's kernel booted under QEMU with a
# simulated chip (gpio-sim). Installs what it needs from apt when run as root;
# downloads and the module build are cached in vmtest/.cache. See
# vmtest/README.md.

.PHONY: vmtest vmtest-clean

vmtest:
	GO='$(GO)' bash vmtest/run.sh

vmtest-clean:
	rm -rf vmtest/.cache
