#!/bin/bash
# `make run` installs only what the server needs to build and run: the
# package list of scripts/deps.sh's main part (DEPS_LIST=1 prints it) holds
# no engine or tool of the tests and benchmarks (PostgreSQL, Prometheus,
# Ceph, the AWS CLI, SoftHSM2, clang, cmocka), those are in its test part, and
# the `run` target calls the main part only.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
main=$(DEPS_LIST=1 sh "$ROOT/scripts/deps.sh" | tr '\n' ' ')
all=$(DEPS_LIST=1 sh "$ROOT/scripts/deps.sh" test | tr '\n' ' ')
check_eq "the main part lists the build tools and libraries" 1 \
	"$(case " $main" in *" gcc "*libssl-dev*libmicrohttpd-dev*) echo 1;; esac)"
for p in postgresql prometheus ceph-mon radosgw ceph-common awscli softhsm2 opensc python3-nacl \
	clang libcmocka-dev e2fsprogs; do
	check_eq "make run does not install $p" "" "$(echo " $main" | tr ' ' '\n' | grep -x -- "$p")"
	check_eq "the test part still installs $p" "$p" "$(echo " $all" | tr ' ' '\n' | grep -x -- "$p")"
done
for p in $main; do
	case " $all " in *" $p "*) ;; *) not_ok "the test part includes the main part ($p missing)";; esac
done
recipe=$(make -C "$ROOT" -n run 2>/dev/null | grep deps.sh)
check_eq "make run calls scripts/deps.sh without 'test'" "scripts/deps.sh" "$(echo "$recipe" | sed 's/^@//; s/ *$//')"
for t in test fuzz bench crash asan; do
	check_eq "make $t calls the test part" 1 \
		"$(make -C "$ROOT" -n "$t" 2>/dev/null | grep -q 'deps.sh test' && echo 1)"
done
done_testing
