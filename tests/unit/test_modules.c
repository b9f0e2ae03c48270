/* Unit tests of the module resolver in template/modules.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modules.h"

/* The shape of Debian 12's 6.1 cloud kernel, after depmod. */
static const char debian_dep[] =
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko:\n"
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n"
	"kernel/drivers/virtio/virtio_ring.ko:\n"
	"kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko "
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n";

static int index_of(const struct module_list *list, const char *path)
{
	for (unsigned i = 0; i < list->count; i++) {
		if (strcmp(list->paths[i], path) == 0)
			return (int)i;
	}
	return -1;
}

static unsigned occurrences(const struct module_list *list, const char *path)
{
	unsigned count = 0;

	for (unsigned i = 0; i < list->count; i++)
		count += strcmp(list->paths[i], path) == 0;
	return count;
}

static void debian_shape_order(void **state)
{
	const char *const names[] = {"virtio_pci", "virtio_console", "virtio-rng", NULL};
	struct module_list list;
	struct dv_error err = {0};

	assert_int_equal(modules_resolve(debian_dep, NULL, names, &list, &err), 0);
	assert_int_equal(list.count, 7);

	int ring = index_of(&list, "kernel/drivers/virtio/virtio_ring.ko");
	int virtio = index_of(&list, "kernel/drivers/virtio/virtio.ko");
	int legacy = index_of(&list, "kernel/drivers/virtio/virtio_pci_legacy_dev.ko");
	int modern = index_of(&list, "kernel/drivers/virtio/virtio_pci_modern_dev.ko");
	int pci = index_of(&list, "kernel/drivers/virtio/virtio_pci.ko");
	int console = index_of(&list, "kernel/drivers/char/virtio_console.ko");
	int rng = index_of(&list, "kernel/drivers/char/hw_random/virtio-rng.ko");

	assert_true(ring >= 0);
	assert_true(ring < virtio);
	assert_true(legacy < pci);
	assert_true(modern < pci);
	assert_true(virtio < pci);
	assert_true(virtio < console);
	assert_true(virtio < rng);
}

static void shared_dependency_once(void **state)
{
	const char *const names[] = {"virtio_console", "virtio-rng", "virtio_pci", NULL};
	struct module_list list;

	assert_int_equal(modules_resolve(debian_dep, NULL, names, &list, NULL), 0);
	assert_int_equal(occurrences(&list, "kernel/drivers/virtio/virtio.ko"), 1);
	assert_int_equal(occurrences(&list, "kernel/drivers/virtio/virtio_ring.ko"), 1);
	assert_int_equal(list.count, 7);
}

static void builtin_module_skipped(void **state)
{
	const char builtin[] = "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n";
	const char *const names[] = {"virtio_console", NULL};
	struct module_list list;

	assert_int_equal(modules_resolve(debian_dep, builtin, names, &list, NULL), 0);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.paths[0], "kernel/drivers/char/virtio_console.ko");
}

static void dash_and_underscore_match(void **state)
{
	const char *const names[] = {"virtio_rng", "virtio-console", NULL};
	struct module_list list;

	assert_int_equal(modules_resolve(debian_dep, NULL, names, &list, NULL), 0);
	assert_true(index_of(&list, "kernel/drivers/char/hw_random/virtio-rng.ko") >= 0);
	assert_true(index_of(&list, "kernel/drivers/char/virtio_console.ko") >= 0);
}

static void missing_module_named(void **state)
{
	const char *const names[] = {"virtio_pci", "virtio_gpu", NULL};
	struct module_list list;
	struct dv_error err = {0};

	assert_int_equal(modules_resolve(debian_dep, NULL, names, &list, &err), -ENOENT);
	assert_non_null(strstr(err.message, "virtio_gpu"));
}

static void missing_dependency_named(void **state)
{
	const char *const names[] = {"ext4", NULL};
	struct module_list list;
	struct dv_error err = {0};

	assert_int_equal(modules_resolve(debian_dep, NULL, names, &list, &err), -ENOENT);
	assert_non_null(strstr(err.message, "mbcache"));
	assert_non_null(strstr(err.message, "ext4"));
}

static void cycle_rejected(void **state)
{
	const char dep[] = "a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\n";
	const char *const names[] = {"a", NULL};
	struct module_list list;
	struct dv_error err = {0};

	assert_int_equal(modules_resolve(dep, NULL, names, &list, &err), -ELOOP);
	assert_non_null(strstr(err.message, "cycle"));
}

static void compressed_module_rejected(void **state)
{
	const char dep[] = "kernel/virtio_ring.ko.xz:\nkernel/virtio.ko.zst: kernel/virtio_ring.ko.xz\n";
	const char *const names[] = {"virtio", NULL};
	struct module_list list;
	struct dv_error err = {0};

	assert_int_equal(modules_resolve(dep, NULL, names, &list, &err), -ENOTSUP);
	assert_non_null(strstr(err.message, "compressed"));
	assert_non_null(strstr(err.message, "virtio_ring.ko.xz"));
}

static void name_normalised(void **state)
{
	char name[64];

	module_name_normalise("kernel/drivers/char/hw_random/virtio-rng.ko", name, sizeof(name));
	assert_string_equal(name, "virtio_rng");
	module_name_normalise("kernel/fs/btrfs.ko.zst", name, sizeof(name));
	assert_string_equal(name, "btrfs");
	module_name_normalise("virtio-pci", name, sizeof(name));
	assert_string_equal(name, "virtio_pci");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(debian_shape_order),
		cmocka_unit_test(shared_dependency_once),
		cmocka_unit_test(builtin_module_skipped),
		cmocka_unit_test(dash_and_underscore_match),
		cmocka_unit_test(missing_module_named),
		cmocka_unit_test(missing_dependency_named),
		cmocka_unit_test(cycle_rejected),
		cmocka_unit_test(compressed_module_rejected),
		cmocka_unit_test(name_normalised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
