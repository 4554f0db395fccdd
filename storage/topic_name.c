/* topic_name.c: topic name rules.
 *
 * A valid name is 1..249 bytes, each one of [A-Za-z0-9._-], and not "." or "..":
 *
 *     orders  user.events-v2  __consumer_offsets     valid
 *     ""  "."  ".."  "a/b"  "a%2Fb"  "caf\xc3\xa9"  "a\0b"  250 x 'a'   invalid
 *
 * So a name is always one path component under DATA/topics/ and never needs escaping in
 * JSON, a URL path or a file name. Names starting with "__" are internal. */
#include "storage/topic_name.h"

#include <string.h>

bool topic_name_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

bool topic_name_is_valid(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > TOPIC_NAME_MAX)
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (i = 0; i < len; i++)
        if (!topic_name_char_ok(name[i]))
            return false;
    return true;
}

bool topic_name_is_internal(const char *name)
{
    return strncmp(name, "__", 2) == 0;
}
