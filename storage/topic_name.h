/* topic_name.h: what a topic may be called (API.md "Conventions"). A name is also a
 * directory under DATA/topics/, so the rules keep it a single safe path component. */
#ifndef STORAGE_TOPIC_NAME_H
#define STORAGE_TOPIC_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* The longest valid name, in bytes (Kafka's limit). */
#define TOPIC_NAME_MAX 249

/* True if name[0..len) is 1 to 249 characters of [A-Za-z0-9._-] and is neither "." nor
 * "..". Length-based: a NUL inside the range makes the name invalid, and 'name' need
 * not be NUL-terminated. */
bool topic_name_is_valid(const char *name, size_t len);
/* Whether 'ch' may appear in a topic name: [A-Za-z0-9._-]. */
bool topic_name_char_ok(char ch);
/* True if the (NUL-terminated) name starts with "__", like __consumer_offsets. Says
 * nothing about validity. */
bool topic_name_is_internal(const char *name);

#endif
