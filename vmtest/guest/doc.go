// Package guest holds the tests that make vmtest boots in a VM: Hearth's GPIO
// drivers (relay, contact, bolt) over periph's gpioioctl on a real kernel's
// GPIO character device, with gpio-sim's sysfs attributes as the world around
// them. The tests build only with the vmtest tag and run only where the VM's
// init sets HEARTH_VMTEST=1. See vmtest/README.md.
package guest
