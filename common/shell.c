#include "shell.h"

#include <stdbool.h>
#include <string.h>

static bool needs_quotes(const char *word)
{
	if (word[0] == '\0')
		return true;
	for (const char *c = word; *c != '\0'; c++) {
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			   "_./=:,+-@%", *c) == NULL)
			return true;
	}
	return false;
}

void dv_shell_quote(FILE *out, const char *word)
{
	if (!needs_quotes(word)) {
		fputs(word, out);
		return;
	}
	fputc('\'', out);
	for (const char *c = word; *c != '\0'; c++) {
		if (*c == '\'')
			fputs("'\\''", out);
		else
			fputc(*c, out);
	}
	fputc('\'', out);
}
