/* quiet_logs.c: unit tests log only errors; the engine's warnings about the torn
 * tails and damaged indexes that the tests make on purpose would drown the report. */
#include "common/log.h"

__attribute__((constructor)) static void quiet_logs(void)
{
    log_set_level(LOG_ERROR);
}
