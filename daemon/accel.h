/*
 * Choice of the QEMU accelerator. KVM is used only after a VM really
 * booted under it: /dev/kvm may open on hosts where guests spin or QEMU
 * aborts. The result is cached per host kernel, QEMU binary and /dev/kvm.
 */
#ifndef DISPVMD_ACCEL_H
#define DISPVMD_ACCEL_H

#include <stdbool.h>

#include "error.h"

enum accel { ACCEL_TCG, ACCEL_KVM };

enum accel_decision {
	ACCEL_DECIDED, /* *out contains the accelerator */
	ACCEL_PROBE,   /* start with KVM as the probe and report the result */
	ACCEL_WAIT,    /* a probe runs; wait for accel_probe_finished */
};

/* Milliseconds the probe VM has to send HELLO under KVM.
 * NOTE: no test covers this deadline (a guest that spins under KVM); the
 * tests only see QEMU aborting at start. */
#define ACCEL_PROBE_DEADLINE_MS 5000u

/* Set up the cache key for `qemu_path`. Call before each decision. */
enum accel_decision accel_decide(const char *qemu_path, enum accel *out);

/* The accelerator accel_decide would pick without a probe, if known:
 * decides nothing and starts no probe. */
bool accel_known(const char *qemu_path, enum accel *out);

/* Record the probe result. `reason` describes why KVM failed. */
void accel_probe_finished(const char *qemu_path, bool kvm_works, const char *reason);

/* The probe ended without a result (its VM was destroyed). */
void accel_probe_abandoned(void);

const char *accel_name(enum accel accel);

#endif
