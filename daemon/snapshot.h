/*
 * Savefiles in the daemon (restore.c and save.c): choosing how a VM starts (restore from the
 * template's savefile, or boot), restoring, and building savefiles with
 * save VMs, one at a time per template, for the `save` request and in the
 * background when a start finds the savefile missing or stale.
 */
#ifndef DISPVMD_SNAPSHOT_H
#define DISPVMD_SNAPSHOT_H

#include <json-c/json.h>
#include <stdbool.h>

#include "error.h"

struct vm;
struct client;

/*
 * Set vm->start from the request: restore when the template's savefile is
 * fresh for this accelerator (`accel_decided`: not a KVM probe) and the VM
 * has the template's memory, else boot (and rebuild a missing or stale
 * savefile in the background). Fails when the request demands a path it
 * cannot have (pool, or restore without a usable savefile).
 */
int snapshot_choose_start(struct vm *vm, bool accel_decided, struct dv_error *err);

/* Open the savefile that vm restores from, read-only. Returns the fd. */
int snapshot_open(struct vm *vm, struct dv_error *err);

/* QEMU started with -incoming: wait until the state is loaded, resume the
 * guest and send IDENTITY. */
int snapshot_resume(struct vm *vm, struct dv_error *err);

/* Resume a paused restored VM (a pool member being taken) and send
 * IDENTITY once it runs. */
int snapshot_cont(struct vm *vm, struct dv_error *err);

/* The agent of a save VM sent HELLO: save the guest to the savefile. */
void snapshot_save(struct vm *vm);

/* Timer callback of vm->poll_timer. */
void snapshot_poll(void *data);

/* In save.c: the next QMP poll of a save VM. */
void save_poll(struct vm *vm);

/* In save.c: rebuild the savefile of vm's template in the background,
 * unless a save of it runs or the last one failed for the same inputs. */
void save_in_background(const struct vm *vm, bool kvm);

/* A VM is being freed: finish its save job, if any. */
void snapshot_vm_freed(struct vm *vm);

/* The `save` request (docs/api.md). */
void snapshot_handle_save(struct client *client, struct json_object *request);

/* Forget a closing client that waits for a save. */
void snapshot_client_closed(struct client *client);

#endif
