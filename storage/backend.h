/* backend.h: the seam between the API and the storage it serves. api/ includes this
 * header and no other from storage/. Today it is the embedded log engine's interface
 * (store, topics, partitions, record batches); the kafka backend will fill the same
 * operations over librdkafka. */
#ifndef STORAGE_BACKEND_H
#define STORAGE_BACKEND_H

#include "storage/group_members.h"
#include "storage/group_offsets.h"
#include "storage/io.h"
#include "storage/partition.h"
#include "storage/record.h"
#include "storage/store.h"
#include "storage/topic.h"
#include "storage/topic_config.h"
#include "storage/topic_meta.h"
#include "storage/topic_name.h"

#endif
