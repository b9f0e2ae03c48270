/*
 * The pool of preloaded disposables (docs/architecture.md, "Start paths"):
 * per template, dispvm.conf's pool_size VMs restored from the template's
 * savefile and left paused. A run or open request takes one, and the pool
 * refills in the background, one VM at a time, while the host has
 * pool_min_available_mib of MemAvailable.
 */
#ifndef DISPVMD_POOL_H
#define DISPVMD_POOL_H

#include "error.h"

struct client;
struct vm;
struct vm_request;
struct vm_session;

/* Set up the pool's timer and start filling. */
int pool_init(struct dv_error *err);

/* Check the pool soon: after a take, a free, or new settings. */
void pool_kick(void);

/* Preload nothing more: the daemon is stopping. */
void pool_stop(void);

/* A preloaded VM finished loading its savefile and waits, paused. */
void pool_vm_loaded(struct vm *vm);

/*
 * Give the request a preloaded VM of `template_name` when its start allows
 * one (auto or pool) and its memory matches. Returns 1 with *out set when
 * it took one, 0 when the request should start another way, or a negative
 * errno value with `err` set (start pool and none fits). The request is
 * taken over when the result is not 0.
 */
int pool_take(struct vm_request *request, const char *template_name, unsigned memory_mib,
	      struct client *client, struct vm_session **out, struct dv_error *err);

#endif
