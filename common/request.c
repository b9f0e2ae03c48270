#include "request.h"

#include <ctype.h>
#include <string.h>

bool dv_memory_mib_valid(int64_t mib)
{
	return mib >= DV_MEMORY_MIN_MIB && mib <= DV_MEMORY_MAX_MIB;
}

bool dv_env_entry_valid(const char *entry)
{
	const char *equals = strchr(entry, '=');
	bool valid = equals != NULL && equals != entry && !isdigit((unsigned char)entry[0]);

	for (const char *c = entry; valid && c < equals; c++)
		valid = isalnum((unsigned char)*c) || *c == '_';
	return valid;
}
