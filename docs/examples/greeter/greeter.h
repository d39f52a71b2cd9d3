/* SPDX-License-Identifier: Apache-2.0 */
/*
 * greeter.h - what the greeter plugin shares with other plugins: a hook
 * they may implement and an event they may subscribe to. Another plugin
 * includes this header and uses the same names and types; the registry
 * refuses one built against a different declaration.
 */
#ifndef GREETER_H
#define GREETER_H

#include <vibebox/vibebox.h>

/*
 * greet_format(name, out, len) - FIRST, default VBX_DECLINED.
 * Write the greeting for `name` into out (len bytes, NUL-terminated) and
 * return VBX_OK, or return VBX_DECLINED to leave it to the next handler;
 * when every handler declines, the greeter writes "<greeting>, <name>!".
 * Runs on a worker thread; may block. Borrows all its arguments.
 */
VBX_HOOK_DECLARE(greet_format, FIRST, VBX_DECLINED,
                 (const char *name, char *out, size_t len), (name, out, len))

/* greeted - someone was greeted through POST
 * /api/v1/x/greeter/greetings. */
typedef struct greeted_event {
	uint32_t version; /* 1 */
	char name[257];   /* up to 64 characters of UTF-8 */
} greeted_event;
VBX_EVENT_DECLARE(greeted, greeted_event, NULL)

#endif
