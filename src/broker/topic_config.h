/*
 * topic_config.h - per-topic configuration overrides (Kafka's topic keys).
 *
 * Layer: src/broker. Callers hold the topics lock (write lock to change).
 */
#ifndef RN_BROKER_TOPIC_CONFIG_H
#define RN_BROKER_TOPIC_CONFIG_H

#include "broker/broker.h"

/* Number of topic-level keys and the i-th key's name. */
int rn_topic_config_count(void);
int rn_topic_config_known(rn_str name);
/* The broker key the i-th topic key inherits its default from, or NULL. */
const char *rn_topic_config_synonym(int i);
const char *rn_topic_config_name(int i);
/* Kafka error code (INVALID_CONFIG with *msg) for an unknown key or bad value. */
int rn_topic_config_validate(rn_str name, rn_str value, const char **msg);
/* Sets an override (already validated). Returns 0 or -errno. */
int rn_topic_config_set(rn_topic *t, rn_str name, rn_str value);
/* The override, or NULL when the broker default applies. */
const char *rn_topic_config_override(const rn_topic *t, const char *name);
/* The effective value of the i-th key. */
void rn_topic_config_value(const rn_topic *t, int i, char *buf, size_t len, int *is_override);
/* Recomputes the fields of t derived from its configuration. */
void rn_topic_config_apply(rn_topic *t);
/* Forgets every override / one override (returns 1 if it was set). */
void rn_topic_config_clear(rn_topic *t);
int rn_topic_config_remove(rn_topic *t, rn_str name);
/* Keys whose values are lists (IncrementalAlterConfigs APPEND/SUBTRACT). */
int rn_topic_config_is_list(rn_str name);
/* Writes/reads <partition_dir>/topic.config. */
int rn_topic_config_save(const rn_topic *t, const char *partition_dir);
int rn_topic_config_load(rn_topic *t, const char *partition_dir);

#endif
