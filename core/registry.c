/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registry.c - the typed hook and event registry.
 *
 * Hooks and events are keyed by name, so third parties can declare their
 * own. The first plugin to ask for a name fixes its signature (and, for a
 * hook, its policy); a later plugin that disagrees was built against
 * another declaration and is refused with an error naming both sides.
 * Signatures compare as C types (sig.c): parameter names and spacing do
 * not count. A signature sig.c cannot read still matches its own text.
 *
 * Registration is open until the freeze. Then each hook's handlers are
 * sorted and published in its public head (entries, count), which the
 * SDK's inline run functions read without locks; nothing a run reads ever
 * changes again. The table itself stays behind a mutex, because plugins
 * may still look hooks up (and create empty ones) after the freeze.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core.h"
#include "trace.h"

#define NBUCKETS 64

/* What hooks and events share: a name in a table, and who declared it. */
struct named {
	struct named *bucket_next;
	struct named *next; /* in creation order */
	char *name;
	char *declarer; /* the plugin whose declaration fixed the signature */
};

struct table {
	struct named *buckets[NBUCKETS];
	struct named *first, **last;
};

struct handler {
	struct vbx_hook_entry entry;
	vbx_plugin *owner;
	int prio;
	unsigned long seq; /* registration order, for ties */
};

struct hook {
	struct vbx_hook head; /* first: the SDK's handle points here */
	struct named key;
	char *sig;   /* as the declarer wrote it, for messages */
	char *canon; /* its canonical form; NULL when sig.c cannot read it */
	int policy;
	struct handler *handlers;
	/* The run-time table: as large as handlers, filled by the freeze. */
	struct vbx_hook_entry *entries;
	size_t count, cap;
};

struct subscriber {
	vbx_fn fn;
	void *ud;
	vbx_plugin *owner;
};

struct event {
	struct vbx_event head; /* first: the SDK's handle points here */
	struct named key;
	char *type;  /* as the declarer wrote it, for messages */
	char *canon; /* its canonical form; NULL when sig.c cannot read it */
	size_t size;
	/* Read by the dispatcher while a late event_get may set it. */
	_Atomic(vbx_event_json_fn *) to_json;
	atomic_bool shared; /* carried to every replica (vbx_event_share) */
	struct subscriber *subs;
	size_t count, cap;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct table hooks = {.last = &hooks.first};
static struct table events = {.last = &events.first};
static atomic_bool frozen;
static vbx__errors *errs;
static unsigned long next_seq;
static size_t max_payload;

static const char *const policy_names[] = {"?", "FIRST", "ALL", "PROVIDER"};

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- helpers ---- */

static const char *who(const vbx_plugin *p)
{
	return p && p->name ? p->name : "(unnamed)";
}

/* Record a registration error for `vibeboxd -t` and log it. Lock held. */
static void report(const vbx_plugin *p, const char *fmt, ...) VBX_PRINTF(2, 3);
static void report(const vbx_plugin *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (errs)
		vbx__errors_add(errs, "%s", msg);
	vbx__log(who(p), VBX_LOG_ERROR, "%s", msg);
}

void vbx__registry_report(const vbx_plugin *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	report(p, "%s", msg);
	pthread_mutex_unlock(&lock);
}

/* The canonical form of sig (sig.c), or NULL when it has none. */
static char *canonical(const char *sig)
{
	char *out = NULL;
	if (vbx__sig_normalise(sig, &out) != VBX_OK)
		return NULL;
	return out;
}

/*
 * Is sig the same C type as the declared one (text and canonical form)?
 * As types when both have a canonical form, as text otherwise; an
 * unreadable signature thus matches only its own text.
 */
static bool same_type(const char *decl, const char *decl_canon, const char *sig)
{
	if (strcmp(decl, sig) == 0)
		return true;
	if (!decl_canon)
		return false;
	char *canon = canonical(sig);
	bool same = canon && strcmp(canon, decl_canon) == 0;
	free(canon);
	return same;
}

static bool is_identifier(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* FNV-1a: short names, a small table; anything even is good enough. */
static size_t bucket_of(const char *name)
{
	uint32_t h = 2166136261u;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % NBUCKETS;
}

static struct named *table_find(const struct table *t, const char *name)
{
	struct named *n = t->buckets[bucket_of(name)];
	while (n && strcmp(n->name, name) != 0)
		n = n->bucket_next;
	return n;
}

static void table_insert(struct table *t, struct named *n)
{
	size_t b = bucket_of(n->name);
	n->bucket_next = t->buckets[b];
	t->buckets[b] = n;
	n->next = NULL;
	*t->last = n;
	t->last = &n->next;
}

static void table_clear(struct table *t)
{
	memset(t, 0, sizeof(*t));
	t->last = &t->first;
}

static bool named_init(struct named *n, const vbx_plugin *p, const char *name)
{
	n->name = strdup(name);
	n->declarer = strdup(who(p));
	return n->name && n->declarer;
}

static void named_free(struct named *n)
{
	free(n->name);
	free(n->declarer);
}

/* ---- hooks ---- */

static struct hook *hook_new(const vbx_plugin *p, const char *name,
                             const char *sig, int policy)
{
	struct hook *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->head.host = &vbx__host;
	h->sig = strdup(sig);
	h->canon = canonical(sig);
	h->policy = policy;
	if (!h->sig || !named_init(&h->key, p, name)) {
		free(h->sig);
		free(h->canon);
		named_free(&h->key);
		free(h);
		return NULL;
	}
	table_insert(&hooks, &h->key);
	return h;
}

static void hook_free(struct hook *h)
{
	named_free(&h->key);
	free(h->sig);
	free(h->canon);
	free(h->handlers);
	free(h->entries);
	free(h);
}

static bool hook_sig_matches(const vbx_plugin *p, const struct hook *h,
                             const char *sig)
{
	if (same_type(h->sig, h->canon, sig))
		return true;
	report(p,
	       "plugin \"%s\": hook \"%s\" signature mismatch: it uses \"%s\" "
	       "but plugin \"%s\" declared \"%s\"; rebuild %s against this SDK",
	       who(p), h->key.name, sig, h->key.declarer, h->sig, who(p));
	return false;
}

static bool hook_policy_matches(const vbx_plugin *p, const struct hook *h,
                                int policy)
{
	if (h->policy == policy)
		return true;
	report(p,
	       "plugin \"%s\": hook \"%s\" policy mismatch: it uses %s but "
	       "plugin \"%s\" declared %s; rebuild %s against this SDK",
	       who(p), h->key.name, policy_names[policy], h->key.declarer,
	       policy_names[h->policy], who(p));
	return false;
}

vbx_hook *vbx__hook_get(vbx_plugin *p, const char *name, const char *sig,
                        int policy)
{
	struct hook *h = NULL;

	pthread_mutex_lock(&lock);
	if (!is_identifier(name) || !sig || policy < VBX_POLICY_FIRST ||
	    policy > VBX_POLICY_PROVIDER) {
		report(p,
		       "plugin \"%s\": hook \"%s\": invalid declaration (the "
		       "name must be a C identifier, the policy FIRST, ALL or "
		       "PROVIDER); declare hooks with VBX_HOOK_DECLARE",
		       who(p), name ? name : "(null)");
	} else {
		struct named *n = table_find(&hooks, name);
		if (!n) {
			h = hook_new(p, name, sig, policy);
			if (!h)
				report(p, "plugin \"%s\": hook \"%s\": %s",
				       who(p), name, "out of memory");
		} else {
			h = container_of(n, struct hook, key);
			if (!hook_sig_matches(p, h, sig) ||
			    !hook_policy_matches(p, h, policy))
				h = NULL;
		}
	}
	pthread_mutex_unlock(&lock);
	return h ? &h->head : NULL;
}

/* Why p may not add a handler to h now, or VBX_OK. Lock held. */
static int check_registration(const vbx_plugin *p, const struct hook *h,
                              const char *sig, int prio)
{
	if (atomic_load(&frozen)) {
		report(p,
		       "plugin \"%s\": hook \"%s\": registration is "
		       "closed once the plugins are initialised; register in "
		       "init",
		       who(p), h->key.name);
		return VBX_ESTATE;
	}
	if (!hook_sig_matches(p, h, sig))
		return VBX_ESIGNATURE;
	if (prio < 0 || prio > 100) {
		report(p,
		       "plugin \"%s\": hook \"%s\": priority %d is out of "
		       "range 0..100",
		       who(p), h->key.name, prio);
		return VBX_EINVAL;
	}
	if (h->policy == VBX_POLICY_PROVIDER && h->count > 0) {
		report(p,
		       "hook \"%s\" (PROVIDER) is provided by both \"%s\" and "
		       "\"%s\"; enable only one of them",
		       h->key.name, who(h->handlers[0].owner), who(p));
		return VBX_EEXIST;
	}
	return VBX_OK;
}

/* Room for one more handler. handlers and entries share one capacity,
 * so that the freeze fills entries without allocating. */
static bool reserve_handler(struct hook *h)
{
	if (h->count < h->cap)
		return true;
	size_t ncap = h->cap ? h->cap * 2 : 4;
	struct handler *hv = realloc(h->handlers, ncap * sizeof(*hv));
	if (!hv)
		return false;
	h->handlers = hv;
	struct vbx_hook_entry *ev = realloc(h->entries, ncap * sizeof(*ev));
	if (!ev)
		return false;
	h->entries = ev;
	h->cap = ncap;
	return true;
}

static int add_handler(vbx_plugin *p, struct hook *h, vbx_fn fn, void *ud,
                       int prio)
{
	if (!reserve_handler(h)) {
		report(p, "plugin \"%s\": hook \"%s\": out of memory", who(p),
		       h->key.name);
		return VBX_ENOMEM;
	}
	h->handlers[h->count++] = (struct handler){
	        .entry = {.fn = fn, .ud = ud},
	        .owner = p,
	        .prio = prio,
	        .seq = next_seq++,
	};
	return VBX_OK;
}

int vbx__hook_register(vbx_plugin *p, vbx_hook *vh, const char *sig, vbx_fn fn,
                       void *ud, int prio)
{
	int rc;

	pthread_mutex_lock(&lock);
	struct hook *h = (struct hook *)vh;
	if (!h || !sig || !fn) {
		report(p,
		       "plugin \"%s\": hook \"%s\": registration without a "
		       "hook, a signature or a handler",
		       who(p), h ? h->key.name : "(null)");
		rc = VBX_EINVAL;
	} else {
		rc = check_registration(p, h, sig, prio);
		if (rc == VBX_OK)
			rc = add_handler(p, h, fn, ud, prio);
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static int by_run_order(const void *a, const void *b)
{
	const struct handler *x = a, *y = b;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	if (x->owner->order != y->owner->order)
		return x->owner->order < y->owner->order ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void hook_publish(struct hook *h)
{
	if (h->count == 0)
		return;
	/* only hooks that do something get spans: a run with no handler
	 * would be noise in every trace */
	h->head.traced = vbx__trace_hook_wanted(h->key.name);
	qsort(h->handlers, h->count, sizeof(*h->handlers), by_run_order);
	for (size_t i = 0; i < h->count; i++)
		h->entries[i] = h->handlers[i].entry;
	h->head.entries = h->entries;
	/* count last: a run that sees it sees the entries too. */
	__atomic_store_n(&h->head.count, h->count, __ATOMIC_RELEASE);
}

void vbx__registry_freeze(void)
{
	pthread_mutex_lock(&lock);
	if (!atomic_load(&frozen)) {
		for (struct named *n = hooks.first; n; n = n->next)
			hook_publish(container_of(n, struct hook, key));
		atomic_store(&frozen, true);
	}
	pthread_mutex_unlock(&lock);
}

const char *vbx__hook_name(const vbx_hook *vh)
{
	return ((const struct hook *)vh)->key.name;
}

bool vbx__registry_frozen(void)
{
	return atomic_load(&frozen);
}

/* ---- events ---- */

static struct event *event_new(const vbx_plugin *p, const char *name,
                               const char *type, size_t size,
                               vbx_event_json_fn *to_json)
{
	struct event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->head.host = &vbx__host;
	ev->type = strdup(type);
	ev->canon = canonical(type);
	ev->size = size;
	atomic_init(&ev->to_json, to_json);
	if (!ev->type || !named_init(&ev->key, p, name)) {
		free(ev->type);
		free(ev->canon);
		named_free(&ev->key);
		free(ev);
		return NULL;
	}
	table_insert(&events, &ev->key);
	if (size > max_payload)
		max_payload = size;
	return ev;
}

static void event_free(struct event *ev)
{
	named_free(&ev->key);
	free(ev->type);
	free(ev->canon);
	free(ev->subs);
	free(ev);
}

static bool event_matches(const vbx_plugin *p, const struct event *ev,
                          const char *type, size_t size)
{
	if (same_type(ev->type, ev->canon, type) && ev->size == size)
		return true;
	report(p,
	       "plugin \"%s\": event \"%s\" payload mismatch: it uses \"%s\" "
	       "(%zu bytes) but plugin \"%s\" declared \"%s\" (%zu bytes); "
	       "rebuild %s against this SDK",
	       who(p), ev->key.name, type, size, ev->key.declarer, ev->type,
	       ev->size, who(p));
	return false;
}

static struct event *event_find_or_add(vbx_plugin *p, const char *name,
                                       const char *type, size_t size,
                                       vbx_event_json_fn *to_json)
{
	struct named *n = table_find(&events, name);
	if (!n) {
		struct event *ev = event_new(p, name, type, size, to_json);
		if (!ev)
			report(p, "plugin \"%s\": event \"%s\": out of memory",
			       who(p), name);
		return ev;
	}
	struct event *ev = container_of(n, struct event, key);
	if (!event_matches(p, ev, type, size))
		return NULL;
	vbx_event_json_fn *none = NULL;
	if (to_json)
		atomic_compare_exchange_strong(&ev->to_json, &none, to_json);
	return ev;
}

vbx_event *vbx__event_get(vbx_plugin *p, const char *name, const char *sig,
                          size_t payload_size, vbx_event_json_fn *to_json)
{
	struct event *ev = NULL;

	pthread_mutex_lock(&lock);
	if (!is_identifier(name) || !sig || payload_size == 0 ||
	    payload_size > VBX_EVENT_MAX_PAYLOAD)
		report(p,
		       "plugin \"%s\": event \"%s\": invalid declaration (the "
		       "name must be a C identifier, the payload 1..%d bytes); "
		       "declare events with VBX_EVENT_DECLARE",
		       who(p), name ? name : "(null)", VBX_EVENT_MAX_PAYLOAD);
	else
		ev = event_find_or_add(p, name, sig, payload_size, to_json);
	pthread_mutex_unlock(&lock);
	return ev ? &ev->head : NULL;
}

static int check_subscription(const vbx_plugin *p, const struct event *ev,
                              const char *type)
{
	if (atomic_load(&frozen)) {
		report(p,
		       "plugin \"%s\": event \"%s\": subscriptions are closed "
		       "once the plugins are initialised; subscribe in init",
		       who(p), ev->key.name);
		return VBX_ESTATE;
	}
	if (!event_matches(p, ev, type, ev->size))
		return VBX_ESIGNATURE;
	return VBX_OK;
}

static bool reserve_subscriber(struct event *ev)
{
	if (ev->count < ev->cap)
		return true;
	size_t ncap = ev->cap ? ev->cap * 2 : 4;
	struct subscriber *v = realloc(ev->subs, ncap * sizeof(*v));
	if (!v)
		return false;
	ev->subs = v;
	ev->cap = ncap;
	return true;
}

int vbx__event_subscribe(vbx_plugin *p, vbx_event *vev, const char *sig,
                         vbx_fn fn, void *ud)
{
	int rc;

	pthread_mutex_lock(&lock);
	struct event *ev = (struct event *)vev;
	if (!ev || !sig || !fn) {
		report(p,
		       "plugin \"%s\": event \"%s\": subscription without an "
		       "event, a payload type or a handler",
		       who(p), ev ? ev->key.name : "(null)");
		rc = VBX_EINVAL;
	} else {
		rc = check_subscription(p, ev, sig);
		if (rc == VBX_OK && !reserve_subscriber(ev)) {
			report(p, "plugin \"%s\": event \"%s\": out of memory",
			       who(p), ev->key.name);
			rc = VBX_ENOMEM;
		}
		if (rc == VBX_OK)
			ev->subs[ev->count++] = (struct subscriber){
			        .fn = fn, .ud = ud, .owner = p};
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

const char *vbx__event_name(const vbx_event *ev)
{
	return ((const struct event *)ev)->key.name;
}

size_t vbx__event_payload_size(const vbx_event *ev)
{
	return ((const struct event *)ev)->size;
}

int vbx__event_share(vbx_event *ev)
{
	struct event *e = (struct event *)ev;
	if (!e)
		return VBX_EINVAL;
	atomic_store(&e->shared, true);
	return VBX_OK;
}

bool vbx__event_shared(const vbx_event *ev)
{
	const struct event *e = (const struct event *)ev;
	return atomic_load_explicit(&e->shared, memory_order_relaxed);
}

vbx_event *vbx__event_find(const char *name)
{
	pthread_mutex_lock(&lock);
	struct named *n = name ? table_find(&events, name) : NULL;
	pthread_mutex_unlock(&lock);
	return n ? &container_of(n, struct event, key)->head : NULL;
}

const char *vbx__event_type(const vbx_event *ev)
{
	return ((const struct event *)ev)->type;
}

bool vbx__event_type_matches(const vbx_event *ev, const char *type)
{
	const struct event *e = (const struct event *)ev;
	return type && same_type(e->type, e->canon, type);
}

vbx_event_json_fn *vbx__event_to_json(const vbx_event *ev)
{
	struct event *e = (struct event *)ev;
	return atomic_load_explicit(&e->to_json, memory_order_acquire);
}

typedef void subscriber_fn(void *ud, const void *payload);

void vbx__event_deliver(const vbx_event *vev, const void *payload)
{
	const struct event *ev = (const struct event *)vev;

	/* Subscribers are fixed once frozen; before that there are none to
	 * read safely, like hooks before the freeze. */
	if (!atomic_load_explicit(&frozen, memory_order_acquire))
		return;
	for (size_t i = 0; i < ev->count; i++)
		((subscriber_fn *)ev->subs[i].fn)(ev->subs[i].ud, payload);
}

size_t vbx__registry_max_payload(void)
{
	pthread_mutex_lock(&lock);
	size_t n = max_payload;
	pthread_mutex_unlock(&lock);
	return n;
}

/* ---- introspection and teardown ---- */

static bool add_plugin_hooks(cJSON *arr, const vbx_plugin *p)
{
	for (struct named *n = hooks.first; n; n = n->next) {
		struct hook *h = container_of(n, struct hook, key);
		for (size_t i = 0; i < h->count; i++) {
			if (h->handlers[i].owner != p)
				continue;
			cJSON *o = cJSON_CreateObject();
			if (!o || !cJSON_AddItemToArray(arr, o) ||
			    !cJSON_AddStringToObject(o, "name", n->name) ||
			    !cJSON_AddStringToObject(o, "policy",
			                             policy_names[h->policy]) ||
			    !cJSON_AddNumberToObject(o, "priority",
			                             h->handlers[i].prio))
				return false;
		}
	}
	return true;
}

static bool subscribes(const struct event *ev, const vbx_plugin *p)
{
	for (size_t i = 0; i < ev->count; i++)
		if (ev->subs[i].owner == p)
			return true;
	return false;
}

static bool add_plugin_events(cJSON *arr, const vbx_plugin *p)
{
	for (struct named *n = events.first; n; n = n->next) {
		if (!subscribes(container_of(n, struct event, key), p))
			continue;
		cJSON *s = cJSON_CreateString(n->name);
		if (!s || !cJSON_AddItemToArray(arr, s))
			return false;
	}
	return true;
}

struct cJSON *vbx__registry_plugin_json(const vbx_plugin *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *h = cJSON_AddArrayToObject(o, "hooks");
	cJSON *e = cJSON_AddArrayToObject(o, "events");
	bool ok = o && h && e;

	pthread_mutex_lock(&lock);
	ok = ok && add_plugin_hooks(h, p) && add_plugin_events(e, p);
	pthread_mutex_unlock(&lock);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void vbx__registry_set_errors(vbx__errors *e)
{
	pthread_mutex_lock(&lock);
	errs = e;
	pthread_mutex_unlock(&lock);
}

void vbx__registry_fini(void)
{
	pthread_mutex_lock(&lock);
	for (struct named *n = hooks.first, *next; n; n = next) {
		next = n->next;
		hook_free(container_of(n, struct hook, key));
	}
	for (struct named *n = events.first, *next; n; n = next) {
		next = n->next;
		event_free(container_of(n, struct event, key));
	}
	table_clear(&hooks);
	table_clear(&events);
	atomic_store(&frozen, false);
	errs = NULL;
	next_seq = 0;
	max_payload = 0;
	pthread_mutex_unlock(&lock);
}
