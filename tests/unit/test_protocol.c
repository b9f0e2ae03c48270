/* Unit tests of the protocol codec in protocol/frame.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dispvm-protocol.h"

static void header_round_trip(void **state)
{
	const struct dv_header header = {DV_MSG_STDOUT, 0, 0x01020304u, 0xa0b0c0d0u};
	uint8_t bytes[DV_HEADER_SIZE];
	struct dv_header decoded;

	dv_header_encode(bytes, &header);
	dv_header_decode(bytes, &decoded);
	assert_int_equal(decoded.type, header.type);
	assert_int_equal(decoded.flags, header.flags);
	assert_int_equal(decoded.channel, header.channel);
	assert_int_equal(decoded.length, header.length);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
