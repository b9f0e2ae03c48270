/* VM objects, their registry and lifecycle. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "control.h"
#include "host_memory.h"
#include "log.h"
#include "machine.h"
#include "pool.h"
#include "qemu.h"
#include "records.h"
#include "relay.h"
#include "shell.h"
#include "snapshot.h"

/* Time the agent has to say HELLO under TCG. A Debian cloud kernel
 * reaches init in about 4.5 s under TCG on a 2-core host; the margin
 * covers slower hosts and sanitizer builds. */
#define VM_TCG_AGENT_DEADLINE_MS 60000u
/* Time QEMU has to quit after QMP quit before SIGKILL. */
#define VM_QUIT_DEADLINE_MS 2000u
/* Guest bytes handled per readiness event, so that one busy guest cannot
 * starve the others. */
#define VM_READ_BUDGET (256u * 1024u)

static struct vm *vms;
static struct name_pool name_pool;
static bool name_pool_ready;
static char qemu_binary[DV_PATH_MAX];
static void (*all_destroyed)(void);

static void vm_free(struct vm *vm);
static int vm_spawn(struct vm *vm, struct dv_error *err);

struct vm *vm_first(void)
{
	return vms;
}

struct vm *vm_find(const char *name)
{
	for (struct vm *vm = vms; vm != NULL; vm = vm->next) {
		if (strcmp(vm->name, name) == 0)
			return vm;
	}
	return NULL;
}

unsigned vm_count(void)
{
	unsigned count = 0;

	for (struct vm *vm = vms; vm != NULL; vm = vm->next)
		count++;
	return count;
}

void vm_request_free(struct vm_request *request)
{
	for (size_t i = 0; request->argv != NULL && request->argv[i] != NULL; i++)
		free(request->argv[i]);
	for (size_t i = 0; request->env != NULL && request->env[i] != NULL; i++)
		free(request->env[i]);
	free(request->argv);
	free(request->env);
	free(request->cwd);
	free(request->file_name);
	free(request->app);
	memset(request, 0, sizeof(*request));
}

const char *vm_kind_name(enum vm_kind kind)
{
	switch (kind) {
	case VM_KIND_OPEN:
		return "open";
	case VM_KIND_SAVE:
		return "save";
	case VM_KIND_RUN:
		break;
	}
	return "run";
}

static double seconds_since(int64_t start_ms)
{
	return (double)(loop_now_ms() - start_ms) / 1000.0;
}

/* Close the guest channel and QMP sockets of the current QEMU. */
static void close_channels(struct vm *vm)
{
	if (vm->guest_fd >= 0) {
		loop_remove(&vm->guest_source);
		close(vm->guest_fd);
		vm->guest_fd = -1;
	}
	if (vm->qmp_fd >= 0) {
		loop_remove(&vm->qmp_source);
		close(vm->qmp_fd);
		vm->qmp_fd = -1;
	}
	buffer_free(&vm->guest_out);
	qmp_free(&vm->qmp);
	qemu_output_close(&vm->qemu_output);
}

static void update_guest_events(struct vm *vm)
{
	uint32_t events = EPOLLIN;

	if (buffer_length(&vm->guest_out) > 0)
		events |= EPOLLOUT;
	loop_modify(&vm->guest_source, events);
}

size_t vm_guest_backlog(const struct vm *vm)
{
	return buffer_length(&vm->guest_out);
}

int vm_send_frame(struct vm *vm, uint32_t channel, uint16_t type, const void *payload,
		  uint32_t length)
{
	struct dv_header header = {.type = type, .channel = channel, .length = length};
	uint8_t encoded[DV_HEADER_SIZE];

	if (vm->guest_fd < 0)
		return -EPIPE;
	dv_header_encode(encoded, &header);
	if (buffer_append(&vm->guest_out, encoded, sizeof(encoded)) < 0 ||
	    buffer_append(&vm->guest_out, payload, length) < 0)
		return -ENOMEM;
	update_guest_events(vm);
	return 0;
}

static void write_guest(struct vm *vm)
{
	while (buffer_length(&vm->guest_out) > 0) {
		ssize_t written = send(vm->guest_fd, buffer_bytes(&vm->guest_out),
				       buffer_length(&vm->guest_out), MSG_NOSIGNAL);

		if (written < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (written < 0) {
			char cause[DV_ERROR_MAX];

			snprintf(cause, sizeof(cause), "cannot write to the guest: %s",
				 strerror(errno));
			vm_destroy(vm, cause, "the VM failed: lost the guest channel");
			return;
		}
		buffer_consume(&vm->guest_out, (size_t)written);
	}
	update_guest_events(vm);
	relay_resume_input(vm);
}

static void read_guest(struct vm *vm)
{
	uint8_t chunk[DV_MAX_PAYLOAD];
	size_t budget = VM_READ_BUDGET;

	while (budget > 0) {
		ssize_t count = read(vm->guest_fd, chunk, sizeof(chunk));

		if (count < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (count <= 0) {
			/* QEMU closed the chardev: it is exiting, and SIGCHLD
			 * reports why. */
			loop_remove(&vm->guest_source);
			return;
		}
		if (relay_feed_guest(vm, chunk, (size_t)count) < 0)
			return;
		budget -= (size_t)count < budget ? (size_t)count : budget;
	}
}

static void guest_ready(struct loop_source *source, uint32_t events)
{
	struct vm *vm = source->data;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_guest(vm);
	else if (events & EPOLLOUT)
		write_guest(vm);
}

static void qmp_ready(struct loop_source *source, uint32_t events)
{
	struct vm *vm = source->data;
	int ret = qmp_read(&vm->qmp, vm->qmp_fd);

	(void)events;
	if (ret < 0) {
		/* QEMU closes or resets the socket when it exits, and SIGCHLD
		 * reports that. */
		if (ret == -EPIPE || ret == -ECONNRESET)
			log_debug("%s: QMP closed: %s", vm->name, strerror(-ret));
		else
			log_warning("%s: QMP failed: %s", vm->name, strerror(-ret));
		loop_remove(&vm->qmp_source);
	}
}

static void probe_failed(struct vm *vm, const char *reason);
static void start_waiting_vms(void);

static void timer_expired(void *data)
{
	struct vm *vm = data;

	if (vm->state == VM_STOPPING) {
		if (vm->qemu_pid > 0) {
			log_warning("%s: QEMU did not quit within %u ms; sending SIGKILL",
				    vm->name, VM_QUIT_DEADLINE_MS);
			kill(vm->qemu_pid, SIGKILL);
		}
		return;
	}
	if (vm->state != VM_STARTING)
		return;
	if (vm->probing) {
		probe_failed(vm, "no agent HELLO within 5 s");
		return;
	}

	char cause[128];

	if (vm->kind == VM_KIND_SAVE && vm->decoder->hello_seen)
		snprintf(cause, sizeof(cause), "saving the guest did not end within %u s",
			 VM_TCG_AGENT_DEADLINE_MS / 1000);
	else
		snprintf(cause, sizeof(cause), "the guest agent did not become ready within %u s",
			 VM_TCG_AGENT_DEADLINE_MS / 1000);
	vm_destroy(vm, cause, cause);
}

static int make_socketpair(int fds[2], struct dv_error *err)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return dv_error_set(err, errno, "cannot create a socketpair");
	return 0;
}

static int watch_channels(struct vm *vm, struct dv_error *err)
{
	int ret;

	if (fcntl(vm->guest_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(vm->qmp_fd, F_SETFL, O_NONBLOCK) < 0)
		return dv_error_set(err, errno, "cannot make the QEMU sockets non-blocking");
	ret = loop_add(&vm->guest_source, vm->guest_fd, EPOLLIN, guest_ready, vm);
	if (ret == 0)
		ret = loop_add(&vm->qmp_source, vm->qmp_fd, EPOLLIN, qmp_ready, vm);
	if (ret < 0)
		return dv_error_set(err, -ret, "cannot watch the QEMU sockets");
	return 0;
}

/* Start QEMU with vm->accel and wait for the agent's HELLO, or restore
 * it from the savefile and resume it. */
static int vm_spawn(struct vm *vm, struct dv_error *err)
{
	int agent[2] = {-1, -1};
	int qmp[2] = {-1, -1};
	int incoming = -1;
	int stderr_fd = -1;
	int ret = make_socketpair(agent, err);

	if (ret == 0)
		ret = make_socketpair(qmp, err);
	if (ret == 0)
		ret = qemu_output_open(&vm->qemu_output, vm->name, &stderr_fd, err);
	if (ret == 0 && vm->start == VM_START_RESTORE) {
		ret = incoming = snapshot_open(vm, err);
		if (ret > 0)
			ret = 0;
	}
	if (ret < 0)
		goto out;

	struct qemu_config config = {
		.binary = qemu_binary, .vm_name = vm->name, .accel = vm->accel,
		.memory_mib = vm->memory_mib, .template = vm->template,
		.agent_fd = agent[1], .qmp_fd = qmp[1], .incoming_fd = incoming,
		.stderr_fd = stderr_fd,
	};

	ret = qemu_spawn(&config, &vm->qemu_pid, err);
	if (ret < 0)
		goto out;
	vm->spawned_ms = loop_now_ms();
	vm->guest_fd = agent[0];
	vm->qmp_fd = qmp[0];
	agent[0] = qmp[0] = -1;
	if (vm->start == VM_START_RESTORE)
		guest_decoder_init_restored(vm->decoder);
	else
		guest_decoder_init(vm->decoder);
	vm->qmp.vm_name = vm->name;
	ret = watch_channels(vm, err);
	if (ret == 0 && vm->start == VM_START_RESTORE)
		ret = snapshot_resume(vm, err);
	if (ret == 0)
		ret = records_write(vm->name, vm->qemu_pid, err);
	if (ret == 0) {
		unsigned deadline = vm->probing ? ACCEL_PROBE_DEADLINE_MS : VM_TCG_AGENT_DEADLINE_MS;

		ret = loop_timer_arm(&vm->timer, deadline);
		if (ret < 0)
			dv_error_set(err, -ret, "cannot arm the agent deadline");
	}
out:
	for (int i = 0; i < 2; i++) {
		if (agent[i] >= 0)
			close(agent[i]);
		if (qmp[i] >= 0)
			close(qmp[i]);
	}
	if (incoming >= 0)
		close(incoming);
	if (stderr_fd >= 0)
		close(stderr_fd);
	return ret;
}

/* Spawn with the decided accelerator, or become the probe, or wait. */
static int vm_launch(struct vm *vm, struct dv_error *err)
{
	enum accel accel = ACCEL_TCG;
	enum accel_decision decision = accel_decide(qemu_binary, &accel);

	vm->waiting_for_accel = decision == ACCEL_WAIT;
	vm->probing = decision == ACCEL_PROBE;
	if (decision == ACCEL_WAIT) {
		log_debug("%s: waiting for the KVM probe", vm->name);
		return 0;
	}
	vm->accel = accel;

	int ret = snapshot_choose_start(vm, decision == ACCEL_DECIDED, err);

	return ret < 0 ? ret : vm_spawn(vm, err);
}

static void probe_failed(struct vm *vm, const char *reason)
{
	struct dv_error err = {0};

	accel_probe_finished(qemu_binary, false, reason);
	vm->probing = false;
	if (vm->qemu_pid > 0) {
		/* The child is reaped by vm_child_exited as an unknown pid. */
		kill(vm->qemu_pid, SIGKILL);
		vm->qemu_pid = 0;
	}
	close_channels(vm);
	vm->accel = ACCEL_TCG;
	if (vm_spawn(vm, &err) < 0) {
		dv_error_prefix(&err, "%s: starting QEMU", vm->name);
		log_error("%s", err.message);
		vm_destroy(vm, err.message, err.message);
	}
	start_waiting_vms();
}

static void start_waiting_vms(void)
{
	for (struct vm *vm = vms; vm != NULL; vm = vm->next) {
		struct dv_error err = {0};

		if (!vm->waiting_for_accel || vm->state == VM_STOPPING)
			continue;
		if (vm_launch(vm, &err) < 0) {
			dv_error_prefix(&err, "%s: starting QEMU", vm->name);
			log_error("%s", err.message);
			/* Destroying while iterating is safe: a VM without a
			 * QEMU is freed now, so restart the scan. */
			vm_destroy(vm, err.message, err.message);
			start_waiting_vms();
			return;
		}
	}
}

const char *vm_start_name(enum vm_start start)
{
	switch (start) {
	case VM_START_AUTO:
		return "auto";
	case VM_START_POOL:
		return "pool";
	case VM_START_RESTORE:
		return "restore";
	case VM_START_BOOT:
		break;
	}
	return "boot";
}

/* Give the guest its name, the wall-clock time and fresh entropy. */
static int send_identity(struct vm *vm)
{
	struct dv_identity identity;
	struct timespec now;
	uint8_t payload[DV_IDENTITY_FIXED_SIZE + DV_MAX_HOST_NAME];

	if (getrandom(identity.entropy, sizeof(identity.entropy), 0) !=
	    (ssize_t)sizeof(identity.entropy))
		return -errno;
	clock_gettime(CLOCK_REALTIME, &now);
	identity.realtime_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;

	long length = dv_identity_encode(payload, &identity, vm->name);

	explicit_bzero(identity.entropy, sizeof(identity.entropy));
	if (length < 0)
		return (int)length;

	int ret = vm_send_frame(vm, 0, DV_MSG_IDENTITY, payload, (uint32_t)length);

	explicit_bzero(payload, sizeof(payload));
	if (ret == 0)
		guest_decoder_identity_sent(vm->decoder);
	return ret;
}

void vm_agent_up(struct vm *vm)
{
	if (vm->probing) {
		vm->probing = false;
		accel_probe_finished(qemu_binary, true, NULL);
		start_waiting_vms();
	}
	if (vm->kind == VM_KIND_SAVE) {
		snapshot_save(vm);
		return;
	}

	int ret = send_identity(vm);

	if (ret < 0) {
		char cause[128];

		snprintf(cause, sizeof(cause), "cannot send IDENTITY: %s", strerror(-ret));
		vm_destroy(vm, cause, cause);
	}
}

void vm_agent_ready(struct vm *vm)
{
	loop_timer_arm(&vm->timer, 0);
	vm->state = VM_RUNNING;
	log_info("%s: started (start %s, qemu pid %d, accel %s, agent ready after %.2f s)",
		 vm->name, vm_start_name(vm->start), (int)vm->qemu_pid, accel_name(vm->accel),
		 seconds_since(vm->spawned_ms));
	if (vm->start == VM_START_POOL)
		pool_kick();

	/* The main session first, then exec sessions that waited for the
	 * agent. relay_start may free the session it starts. */
	struct vm_session *session = vm->sessions;

	while (session != NULL && vm->state == VM_RUNNING) {
		struct vm_session *next = session->next;

		relay_start(session);
		session = next;
	}
}

static int load_template(struct vm *vm, const char *template_name, struct dv_error *err)
{
	vm->template = calloc(1, sizeof(*vm->template));
	if (vm->template == NULL)
		return dv_error_set(err, ENOMEM, "cannot load template %s", template_name);
	if (!dv_template_name_valid(template_name))
		return dv_error_invalid(err, EINVAL,
					"invalid template name \"%s\": use 1 to 32 of a-z, 0-9, '-' "
					"and '_', starting with a letter or digit; list templates "
					"with: dispvm template ls", template_name);
	return template_metadata_load(template_name, vm->template, err);
}

/* The guest memory in MiB when the request names none; `reason` says what
 * set it. The sum is 64-bit because a sparse file may claim any size. */
static uint64_t default_memory(const struct template_metadata *template,
			       const struct vm_request *request, enum host_memory_reason *reason)
{
	uint64_t memory = template->memory_mib;
	uint64_t file_mib = (request->file_size + (1u << 20) - 1) >> 20;

	/* An open session's file lives in guest RAM. A file of up to a
	 * quarter of the template's memory fits in it, so the VM keeps the
	 * template's memory size and can be restored from its savefile. */
	*reason = HOST_MEMORY_TEMPLATE;
	if (request->kind == VM_KIND_OPEN && file_mib * 4 > memory) {
		memory += 2 * file_mib;
		*reason = HOST_MEMORY_FILE;
	}
	return memory;
}

unsigned vm_default_memory(const struct template_metadata *template,
			   const struct vm_request *request)
{
	enum host_memory_reason reason;
	uint64_t memory = default_memory(template, request, &reason);

	return memory > UINT_MAX ? UINT_MAX : (unsigned)memory;
}

/* Set the VM's guest memory and check that the host can give it. */
static int choose_memory(struct vm *vm, unsigned requested_mib, struct dv_error *err)
{
	enum host_memory_reason reason = HOST_MEMORY_REQUESTED;
	uint64_t memory = requested_mib != 0 ? requested_mib
					   : default_memory(vm->template, &vm->main->request, &reason);
	int ret = host_memory_check(vm->name, memory, reason, err);

	if (ret < 0)
		return ret;
	vm->memory_mib = (unsigned)memory;
	return 0;
}

static struct vm *vm_alloc(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (vm == NULL)
		return NULL;
	vm->decoder = calloc(1, sizeof(*vm->decoder));
	if (vm->decoder == NULL) {
		free(vm);
		return NULL;
	}
	vm->guest_fd = vm->qmp_fd = -1;
	vm->guest_source.fd = vm->qmp_source.fd = -1;
	vm->timer.source.fd = -1;
	vm->poll_timer.source.fd = -1;
	qemu_output_init(&vm->qemu_output);
	vm->created_ms = loop_now_ms();
	return vm;
}

static int vm_prepare(struct vm *vm, const char *template_name, unsigned memory_mib,
		      struct dv_error *err)
{
	int ret = machine_find_qemu(qemu_binary, sizeof(qemu_binary), err);

	if (ret == 0)
		ret = load_template(vm, template_name, err);
	if (ret < 0)
		return ret;
	vm->command_display = vm_command_display(&vm->main->request);
	if (vm->command_display == NULL)
		return dv_error_set(err, ENOMEM, "cannot describe the command");
	ret = loop_timer_init(&vm->timer, timer_expired, vm);
	if (ret == 0)
		ret = loop_timer_init(&vm->poll_timer, snapshot_poll, vm);
	if (ret < 0)
		return dv_error_set(err, -ret, "cannot create a timer");
	if (!name_pool_ready) {
		names_init(&name_pool, NULL, NULL);
		name_pool_ready = true;
	}
	ret = names_acquire(&name_pool, vm->name, sizeof(vm->name));
	if (ret < 0)
		return dv_error_invalid(err, -ret, "cannot name a new VM: all %u names are in use",
					NAMES_MAX);
	vm->number = (unsigned)ret;
	return choose_memory(vm, memory_mib, err);
}

int vm_create(struct vm_request *request, const char *template_name, unsigned memory_mib,
	      struct client *client, struct vm_session **out, struct dv_error *err)
{
	int taken = pool_take(request, template_name, memory_mib, client, out, err);

	if (taken != 0)
		return taken < 0 ? taken : 0;

	struct vm *vm = vm_alloc();

	if (vm == NULL) {
		vm_request_free(request);
		return dv_error_set(err, ENOMEM, "cannot create a VM");
	}
	vm->kind = request->kind;
	vm->start_request = request->start;
	if (relay_session_new(vm, request, NULL, true) == NULL) {
		vm_free(vm);
		return dv_error_set(err, ENOMEM, "cannot create a VM");
	}

	int ret = vm_prepare(vm, template_name, memory_mib, err);

	if (ret < 0) {
		vm_free(vm);
		return ret;
	}
	vm->next = vms;
	vms = vm;
	log_info("%s: created (template %s, %u MiB, %s)", vm->name, vm->template->name,
		 vm->memory_mib, vm_kind_name(vm->kind));
	ret = vm_launch(vm, err);
	if (ret < 0) {
		dv_error_prefix(err, "%s: starting QEMU", vm->name);
		vm_destroy(vm, err->message, NULL);
		return ret;
	}
	vm->main->client = client;
	*out = vm->main;
	return 0;
}

int vm_preload(const char *template_name, const char *savefile_id, struct dv_error *err)
{
	/* A placeholder main session without a client: vm_take gives it the
	 * request that takes the VM. */
	struct vm_request request = {.kind = VM_KIND_RUN, .start = VM_START_RESTORE};
	struct vm *vm = vm_alloc();

	if (vm == NULL)
		return dv_error_set(err, ENOMEM, "cannot create a VM");
	vm->kind = request.kind;
	vm->start_request = request.start;
	vm->preloaded = true;
	if (relay_session_new(vm, &request, NULL, true) == NULL) {
		vm_free(vm);
		return dv_error_set(err, ENOMEM, "cannot create a VM");
	}
	snprintf(vm->savefile_id, sizeof(vm->savefile_id), "%s", savefile_id);

	int ret = vm_prepare(vm, template_name, 0, err);

	if (ret < 0) {
		vm_free(vm);
		return ret;
	}
	vm->next = vms;
	vms = vm;
	log_info("%s: preloading (template %s, %u MiB)", vm->name, vm->template->name,
		 vm->memory_mib);
	ret = vm_launch(vm, err);
	if (ret < 0) {
		dv_error_prefix(err, "%s: starting QEMU", vm->name);
		vm_destroy(vm, err->message, NULL);
	}
	return ret;
}

int vm_take(struct vm *vm, struct vm_request *request, struct client *client,
	    struct vm_session **out, struct dv_error *err)
{
	char *display = vm_command_display(request);

	if (display == NULL) {
		vm_request_free(request);
		return dv_error_set(err, ENOMEM, "cannot describe the command");
	}
	vm_request_free(&vm->main->request);
	vm->main->request = *request;
	memset(request, 0, sizeof(*request));
	vm->kind = vm->main->request.kind;
	vm->start_request = vm->main->request.start;
	free(vm->command_display);
	vm->command_display = display;
	vm->preloaded = vm->pool_ready = false;
	vm->start = VM_START_POOL;
	vm->created_ms = vm->spawned_ms = loop_now_ms();
	log_info("%s: taken from the pool (template %s, %u MiB, %s)", vm->name,
		 vm->template->name, vm->memory_mib, vm_kind_name(vm->kind));

	int ret = loop_timer_arm(&vm->timer, VM_TCG_AGENT_DEADLINE_MS);

	if (ret < 0)
		dv_error_set(err, -ret, "cannot arm the agent deadline");
	else
		ret = snapshot_cont(vm, err);
	if (ret < 0) {
		dv_error_prefix(err, "%s: resuming the preloaded VM", vm->name);
		vm_destroy(vm, err->message, NULL);
		return ret;
	}
	vm->main->client = client;
	*out = vm->main;
	return 0;
}

static void unlink_vm(struct vm *vm)
{
	for (struct vm **link = &vms; *link != NULL; link = &(*link)->next) {
		if (*link == vm) {
			*link = vm->next;
			return;
		}
	}
}

/* Release everything of a VM whose QEMU is gone (or never ran). */
static void vm_free(struct vm *vm)
{
	char name[NAMES_BUFFER_SIZE];
	bool registered = vm->number != 0;

	unlink_vm(vm);
	snapshot_vm_freed(vm);
	relay_free_all(vm);
	close_channels(vm);
	loop_timer_free(&vm->timer);
	loop_timer_free(&vm->poll_timer);
	if (registered) {
		records_remove(vm->name);
		names_release(&name_pool, vm->number);
		log_info("%s: destroyed (%s; teardown %lld ms; lived %.1f s)", vm->name,
			 vm->end_cause != NULL ? vm->end_cause : "unknown cause",
			 (long long)(vm->destroy_ms != 0 ? loop_now_ms() - vm->destroy_ms : 0),
			 seconds_since(vm->created_ms));
	}
	snprintf(name, sizeof(name), "%s", vm->name);
	free(vm->command_display);
	free(vm->end_cause);
	free(vm->template);
	free(vm->decoder);
	free(vm);
	if (registered)
		api_vm_freed(name);
	pool_kick();
	if (all_destroyed != NULL && vms == NULL) {
		void (*done)(void) = all_destroyed;

		all_destroyed = NULL;
		done();
	}
}

static void stop_qemu(struct vm *vm)
{
	int ret = vm->qmp_fd >= 0 ? qmp_quit(&vm->qmp, vm->qmp_fd) : -EPIPE;

	if (ret < 0) {
		log_debug("%s: cannot send QMP quit (%s); sending SIGKILL", vm->name,
			  strerror(-ret));
		kill(vm->qemu_pid, SIGKILL);
	}
	if (loop_timer_arm(&vm->timer, VM_QUIT_DEADLINE_MS) < 0) {
		log_warning("%s: cannot arm the quit deadline: %m; sending SIGKILL", vm->name);
		kill(vm->qemu_pid, SIGKILL);
	}
}

void vm_destroy(struct vm *vm, const char *cause, const char *error)
{
	if (vm->state == VM_STOPPING)
		return;
	vm->state = VM_STOPPING;
	vm->destroy_ms = loop_now_ms();
	vm->end_cause = strdup(cause);
	if (vm->probing) {
		vm->probing = false;
		accel_probe_abandoned();
		start_waiting_vms();
	}
	relay_vm_stopping(vm, cause, error);
	if (vm->guest_fd >= 0) {
		loop_remove(&vm->guest_source);
		close(vm->guest_fd);
		vm->guest_fd = -1;
	}
	if (vm->qemu_pid > 0)
		stop_qemu(vm);
	else
		vm_free(vm);
}

void vm_destroy_all(void (*done)(void))
{
	all_destroyed = done;
	if (vms == NULL) {
		all_destroyed = NULL;
		done();
		return;
	}
	/* vm_destroy may free any VM without a QEMU, so the scan restarts
	 * from the head after each call. */
	for (;;) {
		struct vm *vm = vms;

		while (vm != NULL && vm->state == VM_STOPPING)
			vm = vm->next;
		if (vm == NULL)
			break;
		vm_destroy(vm, "the daemon is stopping", "the daemon is stopping");
	}
}

/* Describe how QEMU ended, with its last line on stderr when it has one. */
static void describe_status(int status, const char *last_line, char *out, size_t size)
{
	const char *separator = last_line[0] != '\0' ? ": " : "";

	if (WIFSIGNALED(status))
		snprintf(out, size, "QEMU killed by signal %d%s%s", WTERMSIG(status), separator,
			 last_line);
	else
		snprintf(out, size, "QEMU exited with status %d%s%s", WEXITSTATUS(status),
			 separator, last_line);
}

/* QEMU exited while it restored a VM that may boot instead (start auto):
 * boot it. Returns true when the VM was handled. */
static bool restore_failed(struct vm *vm, const char *description)
{
	struct dv_error err = {0};

	if (vm->state != VM_STARTING || vm->start != VM_START_RESTORE ||
	    vm->start_request != VM_START_AUTO)
		return false;
	log_warning("%s: restoring from the savefile failed (%s); booting instead", vm->name,
		    description);
	close_channels(vm);
	loop_timer_arm(&vm->poll_timer, 0);
	vm->start = VM_START_BOOT;
	if (vm_spawn(vm, &err) < 0) {
		dv_error_prefix(&err, "%s: starting QEMU", vm->name);
		log_error("%s", err.message);
		vm_destroy(vm, err.message, err.message);
	}
	return true;
}

void vm_child_exited(pid_t pid, int status)
{
	struct vm *vm = vms;
	char description[64 + QEMU_OUTPUT_LINE_MAX];

	while (vm != NULL && vm->qemu_pid != pid)
		vm = vm->next;
	if (vm == NULL) {
		log_debug("reaped pid %d", (int)pid);
		return;
	}
	qemu_output_drain(&vm->qemu_output);
	describe_status(status, vm->qemu_output.last_line, description, sizeof(description));
	if (vm->state == VM_STOPPING) {
		log_debug("%s: %s", vm->name, description);
		vm->qemu_pid = 0;
		vm_free(vm);
		return;
	}
	log_warning("%s: %s", vm->name, description);
	vm->qemu_pid = 0;
	if (vm->probing && vm->state == VM_STARTING) {
		probe_failed(vm, description);
		return;
	}
	if (restore_failed(vm, description))
		return;

	char error[sizeof(description) + 32];

	if (vm->decoder->used > 0) {
		/* The guest stream ended inside a frame. */
		char cause[160];

		snprintf(cause, sizeof(cause),
			 "protocol violation: guest channel ended inside a frame (%zu bytes of it "
			 "received)", vm->decoder->used);
		log_warning("%s: %s; destroying VM", vm->name, cause);
		snprintf(error, sizeof(error),
			 "the VM broke the guest protocol: guest channel ended inside a frame");
		vm_destroy(vm, cause, error);
		return;
	}
	snprintf(error, sizeof(error), "the VM failed: %s", description);
	vm_destroy(vm, description, error);
}

static void append_word(FILE *out, const char *word, bool first)
{
	if (!first)
		fputc(' ', out);
	dv_shell_quote(out, word);
}

char *vm_command_display(const struct vm_request *request)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	if (request->kind == VM_KIND_OPEN) {
		/* The app is already a shell command, so it is shown as is. */
		if (request->app != NULL && request->app[0] != '\0')
			fprintf(out, "%s ", request->app);
		append_word(out, request->file_name != NULL ? request->file_name : "", true);
	} else {
		for (size_t i = 0; request->argv != NULL && request->argv[i] != NULL; i++)
			append_word(out, request->argv[i], i == 0);
	}
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
