#!/usr/bin/env bash
# make vmtest: boots Debian's kernel under QEMU with a simulated GPIO chip
# (gpio-sim, built out of tree) and runs vmtest/guest, Hearth's GPIO drivers
# against the kernel's GPIO character device. See vmtest/README.md.
#
# Environment: GO (go command), VMTEST_CACHE (cache folder, default
# vmtest/.cache), VMTEST_KERNEL (pin an ABI such as 6.1.0-56-amd64 instead
# of the newest apt offers), VMTEST_TIMEOUT (seconds for the boot, default 180).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
GO=${GO:-go}
cache=${VMTEST_CACHE:-$here/.cache}
boot_timeout=${VMTEST_TIMEOUT:-180}
# Debian bookworm's kernel series. gpio-sim.c and irq_sim.c come from the
# linux-source package of exactly the kernel we boot, so they match its ABI.
series=6.1
marker=HEARTH-VMTEST-RESULT
# Bump when build_kernel changes, so cached modules are rebuilt.
recipe=1

log() { printf 'vmtest: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

export DEBIAN_FRONTEND=noninteractive
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
apt_updated=
apt_update() {
	[ -z "$apt_updated" ] && is_root || return 0
	log "apt-get update"
	apt-get update -qq
	apt_updated=1
}

# candidate prints the version apt would install of a package, if any.
candidate() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -vx '(none)'
}

# resolve_kernel prints "ABI VERSION" for the newest kernel of the series for
# which apt offers the image, the headers and linux-source at one version,
# e.g. "6.1.0-56-amd64 6.1.192-2".
resolve_kernel() {
	local abi ver s=${series//./\\.}
	for abi in $(apt-cache search --names-only "^linux-headers-$s\.0-[0-9]+-amd64\$" 2>/dev/null |
		sed -n "s/^linux-headers-\($s\.0-[0-9]*-amd64\) .*/\1/p" | sort -t- -k2,2nr); do
		ver=$(candidate "linux-image-$abi") || continue
		[ "$(candidate "linux-headers-$abi")" = "$ver" ] || continue
		apt-cache madison "linux-source-$series" | awk -v v="$ver" '$3 == v { f = 1 } END { exit !f }' || continue
		echo "$abi $ver"
		return 0
	done
	return 1
}

# ensure_packages installs the missing packages as root, and otherwise fails
# naming them.
ensure_packages() {
	local p missing=()
	for p in "$@"; do installed "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! is_root; then
		die "missing Debian packages: ${missing[*]}
  install them as root:  apt-get install --no-install-recommends ${missing[*]}
  (make vmtest installs them itself when run as root)"
	fi
	apt_update
	log "installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# kernel_ready tells whether $kdir holds the kernel, configfs.ko and a
# gpio-sim module built from this Kbuild for this package version.
stamp() { echo "$pkgver recipe-$recipe $(sha256sum <"$here/kmod/Kbuild" | cut -c1-16)"; }
kernel_ready() {
	[ -f "$kdir/vmlinuz" ] && [ -f "$kdir/configfs.ko" ] && [ -f "$kdir/gpio-sim-oot.ko" ] &&
		[ "$(cat "$kdir/stamp" 2>/dev/null)" = "$(stamp)" ]
}

# build_kernel downloads the image and the sources of $abi, takes the kernel
# and configfs.ko from the image, and builds gpio-sim against the installed
# headers into $kdir.
build_kernel() {
	local t0 w src
	t0=$(now)
	w=$(mktemp -d "$cache/build.XXXXXX")
	cleanup+=("$w")
	log "downloading linux-image-$abi and linux-source-$series $pkgver"
	(cd "$w" && apt-get download -qq -o APT::Sandbox::User=root \
		"linux-image-$abi=$pkgver" "linux-source-$series=$pkgver" >/dev/null) ||
		{ apt_update && (cd "$w" && apt-get download -qq -o APT::Sandbox::User=root \
			"linux-image-$abi=$pkgver" "linux-source-$series=$pkgver" >/dev/null); }

	mkdir "$w/image" "$w/mod"
	dpkg-deb -x "$w"/linux-image-*.deb "$w/image"
	cp "$w/image/boot/vmlinuz-$abi" "$w/mod/vmlinuz"
	src=$(find "$w/image" -path "*/modules/$abi/kernel/fs/configfs/configfs.ko*" | head -n1)
	[ -n "$src" ] || die "configfs.ko not found in linux-image-$abi"
	case $src in
	*.xz) xz -dc "$src" >"$w/mod/configfs.ko" ;;
	*.zst) zstd -qdc "$src" >"$w/mod/configfs.ko" ;;
	*) cp "$src" "$w/mod/configfs.ko" ;;
	esac

	log "extracting gpio-sim.c, gpiolib.h, irq_sim.c from linux-source-$series"
	dpkg-deb --fsys-tarfile "$w"/linux-source-*.deb |
		tar -x -C "$w" --strip-components=3 "./usr/src/linux-source-$series.tar.xz"
	tar -xJf "$w/linux-source-$series.tar.xz" -C "$w/mod" --strip-components=3 \
		"linux-source-$series/drivers/gpio/gpio-sim.c" "linux-source-$series/drivers/gpio/gpiolib.h"
	tar -xJf "$w/linux-source-$series.tar.xz" -C "$w/mod" --strip-components=3 \
		"linux-source-$series/kernel/irq/irq_sim.c"
	rm -rf "$w/image" "$w"/*.deb "$w/linux-source-$series.tar.xz"

	# irq_to_desc is not exported to modules; generic_handle_irq does the
	# same for an interrupt number and is.
	grep -q 'handle_simple_irq(irq_to_desc(irqnum));' "$w/mod/irq_sim.c" ||
		die "irq_sim.c of $pkgver no longer calls handle_simple_irq(irq_to_desc(irqnum)): update the patch in vmtest/run.sh"
	sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$w/mod/irq_sim.c"
	cp "$here/kmod/Kbuild" "$w/mod/Kbuild"

	log "building gpio-sim-oot.ko against linux-headers-$abi"
	make -s -C "/usr/src/linux-headers-$abi" M="$w/mod" modules >"$w/make.log" 2>&1 ||
		{ cat "$w/make.log" >&2; die "gpio-sim module build failed"; }
	grep -v -e '^  ' -e 'Skipping BTF' "$w/make.log" >&2 || true

	rm -rf "$kdir"
	mkdir -p "$kdir/src"
	cp "$w/mod/vmlinuz" "$w/mod/configfs.ko" "$w/mod/gpio-sim-oot.ko" "$kdir/"
	cp "$w/mod/gpio-sim.c" "$w/mod/gpiolib.h" "$w/mod/irq_sim.c" "$w/mod/Kbuild" "$kdir/src/"
	stamp >"$kdir/stamp"
	log "kernel $abi ready in $(since "$t0")"
}

# build_initramfs writes $run/initramfs.cpio: busybox, the init script, the
# two modules and the guest test binary.
build_initramfs() {
	local r=$run/root a
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,lib/modules}
	cp /bin/busybox "$r/bin/busybox"
	for a in $("$r/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	install -m 755 "$here/init" "$r/init"
	cp "$kdir/configfs.ko" "$kdir/gpio-sim-oot.ko" "$r/lib/modules/"
	cp "$run/guest.test" "$r/bin/guest.test"
	(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$run/initramfs.cpio"
}

abi='' pkgver='' kdir=''

main() {
	local t_start kver='' run rc=0 t0 result
	t_start=$(now)
	mkdir -p "$cache"
	command -v dpkg-query >/dev/null || die "needs a Debian system (dpkg, apt)"

	if [ -n "${VMTEST_KERNEL:-}" ]; then
		abi=$VMTEST_KERNEL
		pkgver=$(candidate "linux-image-$abi") || { apt_update; pkgver=$(candidate "linux-image-$abi"); } ||
			die "apt offers no linux-image-$abi"
	else
		kver=$(resolve_kernel) || { apt_update; kver=$(resolve_kernel); } || kver=
		if [ -n "$kver" ]; then
			read -r abi pkgver <<<"$kver"
		fi
		kdir=$cache/$abi
		# Not root, so nothing can be installed: rather than fail on a newer
		# kernel whose headers are missing, use the newest one already built.
		if [ -z "$kver" ] || { ! is_root && ! kernel_ready && ! installed "linux-headers-$abi"; }; then
			abi=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name "$series.0-*-amd64" -printf "%f\n" | sort -t- -k2,2nr | head -n1)
			if [ -z "$abi" ]; then
				[ -n "$kver" ] || die "apt offers no linux-image/linux-headers/linux-source-$series set (run apt-get update as root)"
				abi=${kver%% *} # nothing cached: let ensure_packages say what is missing
			else
				pkgver=$(cut -d' ' -f1 "$cache/$abi/stamp")
				log "using the kernel already built in the cache"
			fi
		fi
	fi
	kdir=$cache/$abi
	log "kernel $abi ($pkgver)"

	exec 9>"$cache/lock"
	flock 9
	if kernel_ready; then
		ensure_packages qemu-system-x86 busybox-static cpio
	else
		ensure_packages qemu-system-x86 busybox-static cpio make gcc "linux-headers-$abi"
		build_kernel
	fi
	flock -u 9

	run=$(mktemp -d "$cache/run.XXXXXX")
	cleanup+=("$run")

	# The code under test: always rebuilt. Host 'go vet ./...' does not see
	# the guest tests (own module, build tag), so vet them here.
	t0=$(now)
	(cd "$here" && GOWORK="$here/go.work" "$GO" vet -tags vmtest ./guest) || die "go vet of vmtest/guest failed"
	(cd "$here" && GOWORK="$here/go.work" CGO_ENABLED=0 "$GO" test -c -tags vmtest -o "$run/guest.test" ./guest) ||
		die "building the guest tests failed"
	build_initramfs
	log "guest tests and initramfs built in $(since "$t0")"

	log "booting (TCG, timeout ${boot_timeout} s)"
	t0=$(now)
	timeout -k 5 "$boot_timeout" qemu-system-x86_64 -accel tcg -cpu max -machine pc -m 512 \
		-nographic -no-reboot -nic none \
		-kernel "$kdir/vmlinuz" -initrd "$run/initramfs.cpio" \
		-append 'console=ttyS0 panic=-1 quiet' </dev/null |
		tr -d '\r' | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee "$run/console.log" || rc=$?
	cp "$run/console.log" "$cache/console.log"

	if grep -qx "$marker: PASS" "$run/console.log" && ! grep -q "^$marker: FAIL" "$run/console.log"; then
		log "PASS: kernel $abi, boot and tests $(since "$t0"), total $(since "$t_start")"
		return 0
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		result="timed out after ${boot_timeout} s"
	elif grep -q "^$marker: FAIL" "$run/console.log"; then
		result=$(grep "^$marker: FAIL" "$run/console.log" | head -n1)
	else
		result="the guest stopped without a result (qemu exit $rc)"
	fi
	log "FAIL: $result; console log in $cache/console.log"
	return 1
}

main "$@"
