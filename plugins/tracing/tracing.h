/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracing.h - the tracing plugin: spans copied off the request path into
 * a bounded queue (queue.c), encoded as OTLP/JSON (otlp.c) and POSTed to
 * <endpoint>/v1/traces by one export thread (export.c).
 */
#ifndef TRACING_H
#define TRACING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vibebox/vibebox.h>

#define TR_URL_MAX 1024
#define TR_NAME_MAX 128

/* The plugin's block (plugins.tracing), as parsed by init and validate. */
typedef struct tr_settings {
	char url[TR_URL_MAX]; /* endpoint + "/v1/traces" */
	double sample;        /* root sampling ratio, 0..1 */
	long long queue;      /* spans buffered at most */
	long long batch;      /* spans per POST at most */
	int64_t interval_ms;  /* longest wait before a partial batch leaves */
	int64_t timeout_ms;   /* one POST, connection included */
	char service_name[TR_NAME_MAX];
} tr_settings;

/* One attribute of a copied span; strings point into the span's blob. */
typedef struct tr_attr {
	const char *key;
	int type; /* VBX_ATTR_* */
	const char *str;
	long long num;
} tr_attr;

/* A finished span, copied with its strings in one allocation. */
typedef struct tr_span {
	unsigned char trace_id[16], span_id[8], parent_id[8];
	int kind, status;
	int64_t start_ns, end_ns;
	const char *name, *status_message, *tracestate; /* may be NULL */
	size_t nattrs;
	unsigned dropped_attrs;
	tr_attr attrs[VBX_SPAN_ATTRS_MAX];
} tr_span;

/* The OTLP resource: what every exported span is about. */
typedef struct tr_resource {
	const char *service_name;
	const char *instance_id; /* vbx_replica_id() */
	const char *version;     /* the scope's version */
} tr_resource;

/* A growing byte buffer; failed is set once an allocation fails. */
typedef struct tr_buf {
	char *data;
	size_t len, cap;
	bool failed;
} tr_buf;

void tr_buf_put(tr_buf *b, const char *s, size_t n);
void tr_buf_free(tr_buf *b);

/* Copy a span the daemon hands over; NULL when out of memory. free() it. */
tr_span *tr_span_copy(const vbx_span_data *d);

/* Append s as a JSON string (quotes included): control characters
 * escaped, invalid UTF-8 replaced by U+FFFD, so any input gives valid
 * JSON that protobuf's parser accepts. */
void tr_json_string(tr_buf *b, const char *s);

/* One ExportTraceServiceRequest in OTLP/JSON (ids as lower-case hex,
 * enums as integers, 64-bit numbers as strings) of n spans into b.
 * Returns false when out of memory. */
bool tr_otlp_encode(tr_buf *b, const tr_resource *res, tr_span *const *spans,
                    size_t n);

/* The bounded queue and its export thread. */
typedef struct tr_exporter {
	tr_settings cfg;
	tr_resource res;
	char instance_id[64];

	pthread_mutex_t lock; /* held only to move pointers, never over I/O */
	pthread_cond_t wake;
	tr_span **ring;
	size_t head, count;
	bool stopping, running;
	pthread_t thread;

	atomic_ullong exported, dropped; /* for the log lines */
	vbx_series *m_exported, *m_dropped;
	vbx_plugin *self;
} tr_exporter;

int tr_settings_parse(const vbx_config *cfg, tr_settings *s);

/* Queue a span (the export callback); drops and counts when full. */
void tr_enqueue(void *ud, const vbx_span_data *span);
int tr_exporter_start(tr_exporter *e);
/* Flush what is queued (one attempt, bounded by the timeout), stop the
 * thread. */
void tr_exporter_stop(tr_exporter *e);
/* Free the queued spans and the ring. */
void tr_exporter_free(tr_exporter *e);

#endif
