/* Dispatch of control requests (docs/api.md). */
#ifndef DISPVMD_API_H
#define DISPVMD_API_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct client;

/* Handle one request; takes ownership of `fds`. */
void api_handle(struct client *client, struct json_object *request, int *fds,
		size_t fd_count);

/* Reply to the kill requests that waited for the freed VM `name`. */
void api_vm_freed(const char *name);

/* Forget pending kill requests of a closing client. */
void api_client_closed(struct client *client);

#endif

/* Start a run (`open` false) or open session; in session.c. */
void api_start_session(struct client *client, struct json_object *request, bool open,
		       int *fds, size_t fd_count);

/* Start an exec session in the running VM the request names; in
 * session.c. */
void api_start_exec(struct client *client, struct json_object *request, int *fds,
		    size_t fd_count);
