/*
 * A disposable VM: its QEMU process, guest channel, sessions and lifecycle
 * (starting -> running -> stopping -> freed once QEMU is reaped). The main
 * session (the run or open that created the VM) decides its lifetime,
 * and exec sessions come and go while it runs.
 */
#ifndef DISPVMD_VM_H
#define DISPVMD_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "accel.h"
#include "buffer.h"
#include "error.h"
#include "guest.h"
#include "loop.h"
#include "metadata.h"
#include "names.h"
#include "qemu_output.h"
#include "qmp.h"

struct client;
struct save_job;

enum vm_state { VM_STARTING, VM_RUNNING, VM_STOPPING };
/* VM_KIND_SAVE boots a template to write its savefile; it has no client
 * session and `list` leaves it out. */
enum vm_kind { VM_KIND_RUN, VM_KIND_OPEN, VM_KIND_SAVE };

/* How a VM starts: what a request names (AUTO: pool, else restore,
 * else boot) and, in struct vm, the path taken (RESTORE or BOOT). */
enum vm_start { VM_START_AUTO, VM_START_POOL, VM_START_RESTORE, VM_START_BOOT };

/* The command or file a client requested to run in the guest. */
struct vm_request {
	enum vm_kind kind;
	enum vm_start start;
	char **argv; /* NULL-terminated; empty for open without app */
	char **env;
	char *cwd;
	bool tty;
	uint16_t rows, cols;
	char *file_name;
	uint64_t file_size;
	bool view_only;
	char *app;
};

/* A client fd the guest's output goes to. */
struct relay_output {
	int fd;
	struct loop_source source;
	struct buffer pending;
	bool guest_ended; /* EOF frame received */
	bool broken;      /* the client stopped reading (EPIPE) */
};

/* A client fd whose bytes go to the guest. */
struct relay_input {
	int fd;
	struct loop_source source;
	bool ended;         /* EOF sent to the guest */
	uint64_t remaining; /* FILE_IN bytes still to send */
};

struct relay {
	struct relay_input stdin_in;
	struct relay_input file_in;
	struct relay_output stdout_out;
	struct relay_output stderr_out;
	struct relay_output file_out;
	bool file_announced;
	uint64_t file_size;
	bool exit_received;
	int exit_status;
	char *exit_message;
};

/* Sessions one VM runs at once, the main session included. */
#define VM_MAX_SESSIONS GUEST_MAX_CHANNELS

/* One command in a VM: its request, client, guest channel and the
 * client's fds. */
struct vm_session {
	struct vm *vm;
	struct vm_request request;
	struct client *client; /* NULL once the client left or finished */
	uint32_t channel;      /* 0 until START is queued */
	bool main;             /* the run or open that created the VM */
	bool closing;          /* CLOSE sent: waiting for the guest's EXIT */
	struct relay relay;
	struct vm_session *next;
};

struct vm {
	char name[NAMES_BUFFER_SIZE];
	unsigned number;
	enum vm_state state;
	enum vm_kind kind;           /* of the main session, kept after it is freed */
	enum vm_start start_request; /* the start path the main request asked for */
	struct vm_session *main;     /* NULL once it was freed */
	struct vm_session *sessions; /* the main one and exec sessions */
	uint32_t last_channel;       /* the channel of the newest START */
	uint32_t max_payload;        /* largest frame payload the agent accepts */
	struct template_metadata *template;
	unsigned memory_mib;
	enum accel accel;
	bool probing;           /* this VM runs the KVM probe */
	bool waiting_for_accel; /* queued until a probe ends */
	char *command_display;
	pid_t qemu_pid;
	int64_t created_ms;
	int64_t spawned_ms;
	int64_t destroy_ms; /* when vm_destroy began the teardown */
	struct loop_timer timer; /* agent deadline, then the stop deadline */
	enum vm_start start;     /* VM_START_RESTORE or VM_START_BOOT */
	struct loop_timer poll_timer; /* QMP polls of a restore or a save */
	struct save_job *save;   /* with VM_KIND_SAVE */
	bool preloaded;          /* a pool member, paused until taken */
	bool pool_ready;         /* the pool member is restored and paused */
	char savefile_id[256];   /* the savefile a pool member came from */

	int guest_fd;
	struct loop_source guest_source;
	struct guest_decoder *decoder;
	struct buffer guest_out; /* frames not yet written to the guest */

	int qmp_fd;
	struct loop_source qmp_source;
	struct qmp qmp;

	struct qemu_output qemu_output; /* QEMU's stderr */

	char *end_cause; /* why the VM is stopping, for the log */
	struct vm *next;
};

/* Create a VM whose main session runs `request` (whose strings the VM
 * takes over) for `client`, and start it. On failure returns a negative
 * errno value with `err` set; the request is freed either way. */
int vm_create(struct vm_request *request, const char *template_name, unsigned memory_mib,
	      struct client *client, struct vm_session **out, struct dv_error *err);

/* Start a pool member of `template_name`: restore it from the savefile
 * that `savefile_id` names (pool.c) and leave it paused. */
int vm_preload(const char *template_name, const char *savefile_id, struct dv_error *err);

/* Give the paused pool member `vm`'s main session the request (taken
 * over either way) and the client, and resume it. On failure destroys
 * the VM. */
int vm_take(struct vm *vm, struct vm_request *request, struct client *client,
	    struct vm_session **out, struct dv_error *err);

/* The memory a request gets without memory_mib (see `open` in
 * docs/api.md). */
unsigned vm_default_memory(const struct template_metadata *template,
			   const struct vm_request *request);

/*
 * Stop the VM: close every session's descriptors, send the main client an
 * error event with `error` (NULL: an exit event was already sent or there
 * is no client) and each exec client an error event saying the VM was
 * destroyed, then quit QEMU and free the VM once QEMU is reaped, without
 * waiting for it. The caller must not use `vm` afterwards. `cause` goes to
 * the log.
 */
void vm_destroy(struct vm *vm, const char *cause, const char *error);

/* Destroy every VM; `done` runs once all are freed. */
void vm_destroy_all(void (*done)(void));

struct vm *vm_find(const char *name);
struct vm *vm_first(void);

/* Handle a reaped child. */
void vm_child_exited(pid_t pid, int status);

/* The agent sent HELLO on a boot, or a restored guest resumed: send
 * IDENTITY (a save VM saves instead). */
void vm_agent_up(struct vm *vm);

/* Send START for every waiting session once the agent answered IDENTITY
 * with READY, and begin relaying. */
void vm_agent_ready(struct vm *vm);

/* "run", "open" or "save". */
const char *vm_kind_name(enum vm_kind kind);

/* Name of a start path for logs and `list`. */
const char *vm_start_name(enum vm_start start);

/* Queue a frame for the guest on `channel`. Returns 0, -EPIPE when the
 * guest channel is closed, or -ENOMEM. */
int vm_send_frame(struct vm *vm, uint32_t channel, uint16_t type, const void *payload,
		  uint32_t length);

/* Bytes queued for the guest and not yet written. */
size_t vm_guest_backlog(const struct vm *vm);

/* Number of live VMs. */
unsigned vm_count(void);

/* Free the strings of a request. */
void vm_request_free(struct vm_request *request);

/* The shell-quoted command line for `list`. */
char *vm_command_display(const struct vm_request *request);

#endif
