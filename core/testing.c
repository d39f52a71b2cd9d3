/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testing.c - libvibebox-test: the daemon without sockets, for plugins'
 * unit tests (include/vibebox/testing.h documents the API).
 *
 * Everything a plugin can observe runs the daemon's own code: the
 * loader's descriptor checks and lifecycle steps, config getters,
 * registry, router, authentication, request and response functions, event
 * queue and worker pool. What this file adds is what libwebsockets would
 * do around a request: decode the request target, pick the headers a
 * handler may see, and turn the recorded answer into something a test can
 * read. What the server itself decides about a request (its id, whether
 * its body is read, the path the router sees) is request.c's, for both;
 * tests/unit/test_testing.c pins the behaviour down.
 */
#include "vbx_build.h"

#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <vibebox/testing.h>

#include "coremetrics.h"
#include "pump.h"
#include "server.h"

/* The daemon's defaults for what the fake host does not configure. */
#define EVENT_QUEUE 1024
#define MAX_BODY (UINT64_C(1) << 20) /* server.max_body */
#define FLUSH_TIMEOUT_NS (INT64_C(10) * 1000000000)
/* The buffer server.c copies each query argument through: longer
 * arguments, and every one after them, never reach the handler. */
#define QUERY_ARG_MAX 2048
/* Handlers registered through vbx_test_plugin() order after plugins'. */
#define TEST_PLUGIN_ORDER 1000000

typedef struct loaded {
	vbx_plugin plugin; /* its state says whether it is inited, started */
	vbx__conf *conf;   /* owns the plugin's block */
} loaded;

struct vbx_test_host {
	vbx_host host; /* vbx__host with state_dir and work_submit ours */
	vbx__errors errs;
	char *errtext;
	loaded **plugins;
	size_t nplugins;
	void **dls; /* vbx_test_load_file()'s shared objects */
	size_t ndls;
	loaded test;            /* vbx_test_plugin() */
	vbx__server *no_server; /* what health.c reads: never draining */
	vbx_principal principal;
	bool has_principal;
	bool failed, started;
	atomic_ulong submitted; /* vbx_work_submit() calls, for flush_work */
	char state_dir[4096];
};

struct vbx_test_response {
	int status;
	char *body;
	size_t body_len;
	char **names, **values;
	size_t nheaders;
	cJSON *json;
};

static vbx_test_host *current;

static const vbx_plugin_desc test_desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "test",
        .version = VERSION,
        .description = "the unit test itself (libvibebox-test)",
};

/* ---- errors ---- */

static void error(vbx_test_host *h, const char *fmt, ...) VBX_PRINTF(2, 3);
static void error(vbx_test_host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vbx__errors_vadd(&h->errs, fmt, ap);
	va_end(ap);
}

VBX_EXPORT const char *vbx_test_errors(vbx_test_host *h)
{
	size_t len = 0;
	free(h->errtext);
	h->errtext = NULL;
	FILE *f = open_memstream(&h->errtext, &len);
	if (!f)
		return "out of memory";
	for (size_t i = 0; i < h->errs.count; i++)
		fprintf(f, "%s%s", i ? "\n" : "", h->errs.msgs[i]);
	fclose(f);
	return h->errtext;
}

/* ---- the host ---- */

static const char *host_state_dir(const vbx_plugin *p)
{
	return current ? current->state_dir : NULL;
}

static int host_work_submit(vbx_plugin *p, vbx_task_fn *fn, void *ud)
{
	if (current)
		atomic_fetch_add(&current->submitted, 1);
	return vbx__workers_submit(fn, ud);
}

static bool make_state_dir(vbx_test_host *h)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(h->state_dir, sizeof(h->state_dir),
	                 "%s/vbx-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(h->state_dir) ||
	    !mkdtemp(h->state_dir)) {
		fprintf(stderr,
		        "vbx_test_host_new: cannot create a state_dir in %s: "
		        "%m; set TMPDIR to a writable directory\n",
		        tmp && *tmp ? tmp : "/tmp");
		h->state_dir[0] = '\0';
		return false;
	}
	return true;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void remove_state_dir(vbx_test_host *h)
{
	if (h->state_dir[0])
		nftw(h->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The level VBX_TEST_LOG names, or "warn". */
static int initial_log_level(void)
{
	const char *s = getenv("VBX_TEST_LOG");
	int level = s ? vbx__log_level_parse(s) : -1;
	return level >= 0 ? level : VBX_LOG_WARN;
}

/* The core's catalog and routes, as daemon.c's core_init() sets them up
 * (less the routes that need the daemon's plugin list or WebSockets). The
 * platform's routes come with its plugin, loaded like any other. */
static void core_init(vbx_test_host *h)
{
	vbx_plugin *core = vbx__core_plugin();
	vbx__catalog_init(core);
	vbx__health_register(core, &h->no_server);
}

/* A plugin handle with an empty block, named name. */
static int handle_init(vbx_test_host *h, loaded *l, const char *name,
                       const char *text)
{
	vbx__errors errs = {0};
	int rc = vbx__conf_load_buffer(text, "test.conf", &l->conf, &errs);
	if (rc == VBX_OK && l->conf->nplugins != 1) {
		vbx__errors_add(&errs,
		                "test.conf: the config block of plugin \"%s\" "
		                "must hold its keys only, not end the block",
		                name);
		rc = VBX_EINVAL;
	}
	for (size_t i = 0; i < errs.count; i++)
		error(h, "%s", errs.msgs[i]);
	vbx__errors_clear(&errs);
	if (rc != VBX_OK)
		return rc;
	l->plugin.head.host = &h->host;
	l->plugin.name = l->conf->plugins[0].name;
	l->plugin.cfg = l->conf->plugins[0].block;
	l->plugin.state = VBX__PLUGIN_LOADED;
	return VBX_OK;
}

VBX_EXPORT vbx_test_host *vbx_test_host_new(void)
{
	if (current) {
		fprintf(stderr, "vbx_test_host_new: a host exists already; "
		                "free it with vbx_test_host_free() first (one "
		                "host per process at a time)\n");
		return NULL;
	}
	vbx_test_host *h = calloc(1, sizeof(*h));
	if (!h || !make_state_dir(h)) {
		free(h);
		return NULL;
	}
	h->host = vbx__host;
	h->host.state_dir = host_state_dir;
	h->host.work_submit = host_work_submit;
	current = h;
	vbx__log_configure(initial_log_level(), false);
	core_init(h);
	if (handle_init(h, &h->test, "test",
	                "plugins = ({ name = \"test\"; });") != VBX_OK) {
		fprintf(stderr, "vbx_test_host_new: %s\n", vbx_test_errors(h));
		vbx_test_host_free(h);
		return NULL;
	}
	h->test.plugin.desc = &test_desc;
	h->test.plugin.order = TEST_PLUGIN_ORDER;
	h->test.plugin.state = VBX__PLUGIN_STARTED;
	return h;
}

static void stop_plugins(vbx_test_host *h)
{
	for (size_t i = h->nplugins; i-- > 0;)
		vbx__plugin_stop(&h->plugins[i]->plugin);
}

static void fini_plugins(vbx_test_host *h)
{
	for (size_t i = h->nplugins; i-- > 0;)
		vbx__plugin_fini(&h->plugins[i]->plugin);
}

static void free_plugins(vbx_test_host *h)
{
	for (size_t i = 0; i < h->nplugins; i++) {
		vbx__conf_free(h->plugins[i]->conf);
		free(h->plugins[i]);
	}
	free(h->plugins);
	vbx__conf_free(h->test.conf);
	/* Last: nothing refers to the plugins' code any more. */
	for (size_t i = 0; i < h->ndls; i++)
		dlclose(h->dls[i]);
	free(h->dls);
}

/* In the daemon's order: workers, plugins, events, then fini. */
VBX_EXPORT void vbx_test_host_free(vbx_test_host *h)
{
	if (!h)
		return;
	vbx__workers_stop();   /* also frees timers added without a start */
	vbx__pumps_shutdown(); /* streams close before plugins stop */
	vbx__health_shutdown(10000); /* a check still running */
	stop_plugins(h);
	vbx__events_stop();
	fini_plugins(h);
	vbx__health_set_started(false);
	vbx__registry_fini();
	vbx__core_metrics_fini();
	vbx__metrics_fini();
	vbx__routes_free();
	vbx__ws_routes_free();
	memset(&vbx__cat, 0, sizeof(vbx__cat));
	free_plugins(h);
	remove_state_dir(h);
	vbx__errors_clear(&h->errs);
	free(h->errtext);
	if (current == h)
		current = NULL;
	free(h);
}

VBX_EXPORT vbx_plugin *vbx_test_plugin(vbx_test_host *h)
{
	return &h->test.plugin;
}

VBX_EXPORT const char *vbx_test_state_dir(const vbx_test_host *h)
{
	return h->state_dir;
}

VBX_EXPORT void vbx_test_set_log_level(vbx_test_host *h, int level)
{
	if (level < VBX_LOG_ERROR)
		level = VBX_LOG_ERROR;
	if (level > VBX_LOG_DEBUG)
		level = VBX_LOG_DEBUG;
	vbx__log_configure(level, false);
}

VBX_EXPORT void vbx_test_set_principal(vbx_test_host *h,
                                       const vbx_principal *who)
{
	h->has_principal = who != NULL;
	if (who)
		h->principal = *who;
}

/* ---- loading: the loader's own checks and steps (loader.c) ---- */

static loaded *find_loaded(vbx_test_host *h, const char *name)
{
	for (size_t i = 0; i < h->nplugins; i++)
		if (strcmp(h->plugins[i]->plugin.name, name) == 0)
			return h->plugins[i];
	return NULL;
}

/* The fake inits each plugin as it loads it: only those loaded (and
 * inited) before count as providers. */
static bool provided_before(const char *cap, void *ud)
{
	vbx_test_host *h = ud;
	for (size_t i = 0; i < h->nplugins; i++) {
		const vbx_plugin *p = &h->plugins[i]->plugin;
		if (p->state != VBX__PLUGIN_LOADED &&
		    vbx__desc_provides(p->desc, cap))
			return true;
	}
	return false;
}

/* What the daemon checks against the other plugins: the name is not
 * taken, and every capability required is provided. */
static int check_against_loaded(vbx_test_host *h, const vbx_plugin_desc *d)
{
	if (find_loaded(h, d->name)) {
		error(h, "plugin \"%s\" is loaded already", d->name);
		return VBX_EEXIST;
	}
	return vbx__desc_check_requires(
	        d, d->name, provided_before, h,
	        "no plugin loaded before it provides; load one (a fake of "
	        "the test's own, say) first",
	        &h->errs);
}

/* `plugins = ({ name = "NAME"; config = { BLOCK }; });` with BLOCK
 * starting on line 1, so that messages give lines of config_block. */
static char *config_text(const char *name, const char *block)
{
	char *text = NULL;
	if (asprintf(&text,
	             "plugins = ({ name = \"%s\"; config = {%s\n}; });\n", name,
	             block ? block : "") < 0)
		return NULL;
	return text;
}

static loaded *add_loaded(vbx_test_host *h)
{
	loaded **v = realloc(h->plugins, (h->nplugins + 1) * sizeof(*v));
	if (!v)
		return NULL;
	h->plugins = v;
	loaded *l = calloc(1, sizeof(*l));
	if (l)
		h->plugins[h->nplugins++] = l;
	return l;
}

/* As the daemon: the loader's init, then no key that init did not read. */
static int init_plugin(vbx_test_host *h, loaded *l)
{
	int rc = vbx__plugin_init(&l->plugin, &h->errs);
	if (rc == VBX_OK && vbx__conf_check_unknown(l->conf, &h->errs)) {
		error(h,
		      "plugin \"%s\": init failed: its block has keys it "
		      "does not know",
		      l->plugin.name);
		return VBX_EINVAL;
	}
	return rc;
}

/* Load d, which vbx__desc_check() has accepted. */
static int load(vbx_test_host *h, const vbx_plugin_desc *d, const char *block)
{
	int rc = check_against_loaded(h, d);
	if (rc != VBX_OK)
		return rc;
	char *text = config_text(d->name, block);
	loaded *l = text ? add_loaded(h) : NULL;
	if (!l) {
		free(text);
		error(h, "plugin \"%s\": out of memory", d->name);
		return VBX_ENOMEM;
	}
	rc = handle_init(h, l, d->name, text);
	free(text);
	if (rc != VBX_OK) {
		vbx__conf_free(l->conf);
		free(l);
		h->nplugins--;
		return rc;
	}
	l->plugin.desc = d;
	l->plugin.order = (int)h->nplugins - 1;
	rc = init_plugin(h, l);
	if (rc != VBX_OK)
		vbx__plugin_fini(&l->plugin); /* when its init succeeded */
	return rc;
}

/* Every load comes before vbx_test_start(), as in the daemon. */
static bool may_load(vbx_test_host *h, const char *fn)
{
	if (!h->started && !vbx__registry_frozen())
		return true;
	error(h,
	      "%s: the host has started; load every plugin before "
	      "vbx_test_start()",
	      fn);
	return false;
}

/* A failed load keeps the host from starting, as it would the daemon. */
static int load_result(vbx_test_host *h, int rc)
{
	if (rc != VBX_OK)
		h->failed = true;
	return rc;
}

static int load_desc(vbx_test_host *h, const vbx_plugin_desc *d,
                     const char *block)
{
	if (!d) {
		error(h, "vbx_test_load: the descriptor is NULL; pass "
		         "vbx_plugin_entry() or a descriptor of your own");
		return VBX_EINVAL;
	}
	int rc = vbx__desc_check(d, NULL, NULL, &h->errs);
	return rc == VBX_OK ? load(h, d, block) : rc;
}

VBX_EXPORT int vbx_test_load(vbx_test_host *h, const vbx_plugin_desc *desc,
                             const char *config_block)
{
	if (!may_load(h, "vbx_test_load"))
		return VBX_ESTATE;
	return load_result(h, load_desc(h, desc, config_block));
}

/* The plugin name a path stands for: the file name without ".so", which
 * must be a plugin name (the daemon finds NAME.so in plugin_dir). */
static bool name_of_file(const char *path, char *out, size_t size)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n < 4 || strcmp(base + n - 3, ".so") != 0 || n - 3 >= size)
		return false;
	memcpy(out, base, n - 3);
	out[n - 3] = '\0';
	return vbx__plugin_name_valid(out);
}

/* Keep dl open until the host is freed. */
static bool keep_open(vbx_test_host *h, void *dl)
{
	void **v = realloc(h->dls, (h->ndls + 1) * sizeof(*v));
	if (!v)
		return false;
	h->dls = v;
	h->dls[h->ndls++] = dl;
	return true;
}

static int load_file(vbx_test_host *h, const char *path, const char *block)
{
	char name[256];
	void *dl = NULL;
	const vbx_plugin_desc *d = NULL;
	if (!name_of_file(path, name, sizeof(name))) {
		error(h,
		      "%s: a plugin file is named NAME.so, with a NAME of "
		      "a-z, 0-9 and '-'",
		      path);
		return VBX_EINVAL;
	}
	int rc = vbx__plugin_open(name, path, &dl, &d, &h->errs);
	if (dl && !keep_open(h, dl)) {
		dlclose(dl);
		error(h, "%s: out of memory", path);
		return VBX_ENOTFOUND;
	}
	if (rc != VBX_OK)
		return VBX_ENOTFOUND; /* as testing.h says, whatever the cause
		                       */
	rc = vbx__desc_check(d, name, path, &h->errs);
	return rc == VBX_OK ? load(h, d, block) : rc;
}

VBX_EXPORT int vbx_test_load_file(vbx_test_host *h, const char *path,
                                  const char *config_block)
{
	if (!may_load(h, "vbx_test_load_file"))
		return VBX_ESTATE;
	return load_result(h, load_file(h, path, config_block));
}

/* ---- start ---- */

static int start_plugins(vbx_test_host *h)
{
	for (size_t i = 0; i < h->nplugins; i++) {
		int rc = vbx__plugin_start(&h->plugins[i]->plugin, &h->errs);
		if (rc != VBX_OK) {
			stop_plugins(h);
			return rc;
		}
	}
	return VBX_OK;
}

VBX_EXPORT int vbx_test_start(vbx_test_host *h)
{
	if (h->started || h->failed) {
		error(h, "vbx_test_start: %s",
		      h->started ? "started already"
		                 : "a plugin failed to load (see above), so "
		                   "the daemon would not start either");
		return VBX_ESTATE;
	}
	vbx__registry_freeze();
	h->started = true; /* from here on, vbx_test_host_free() stops */
	if (vbx__events_start(EVENT_QUEUE, VBX__OVERFLOW_DROP) != VBX_OK ||
	    vbx__workers_start(1) != VBX_OK) {
		error(h, "vbx_test_start: cannot start the event dispatcher "
		         "or the worker thread (see the log)");
		h->failed = true;
		return VBX_ERR;
	}
	int rc = start_plugins(h);
	if (rc != VBX_OK) {
		h->failed = true;
		return rc;
	}
	vbx__health_set_started(true);
	return VBX_OK;
}

/* ---- the request target, decoded as libwebsockets does ---- */

/*
 * libwebsockets splits the target into fragments: the path, and after the
 * first "?" one per argument. It decodes %XX first, then looks at the
 * result byte by byte, tracking slashes and dots in the path so as to
 * resolve "//", "/./" and "/../" (an escaped "/" or "." counts too).
 * An unescaped "&" or ";" ends a fragment even in the path; the daemon
 * then sees only the path's first fragment.
 */
enum slash_state { S_IDLE, S_SLASH, S_DOT, S_DOTDOT };
enum frag_kind { F_PATH, F_DROPPED, F_ARG };

typedef struct frag {
	size_t off, len;
	enum frag_kind kind;
} frag;

typedef struct target {
	char *buf; /* the fragments, each followed by a NUL */
	size_t pos;
	frag *frags;
	size_t nfrags;
	enum slash_state state;
	bool in_args;
	bool after_equal; /* an unescaped "=" was seen in this argument */
} target;

static frag *cur(target *t)
{
	return &t->frags[t->nfrags - 1];
}

static void put(target *t, char c)
{
	t->buf[t->pos++] = c;
	cur(t)->len++;
}

static void next_frag(target *t, enum frag_kind kind)
{
	t->buf[t->pos++] = '\0';
	t->frags[t->nfrags++] = (frag){.off = t->pos, .kind = kind};
	t->after_equal = false;
}

/* "/.." seen: drop the last segment and its slash, as lws does. */
static void back_up(target *t)
{
	frag *f = cur(t);
	if (f->len <= 2)
		return;
	f->len--;
	do
		f->len--;
	while (f->len > 1 && t->buf[f->off + f->len] != '/');
	t->pos = f->off + f->len;
}

/* Handle one decoded byte c (escaped: it came from %XX). Returns true
 * when c still has to be appended. */
static bool track_slashes(target *t, char *c, bool escaped)
{
	switch (t->state) {
	case S_IDLE:
		if ((*c == '&' || *c == ';') && !escaped) {
			next_frag(t, t->in_args ? F_ARG : F_DROPPED);
			return false;
		}
		if (*c == '=' && escaped && t->in_args && !t->after_equal)
			*c = '_';
		if (*c == '=' && !escaped)
			t->after_equal = true;
		if (*c == '+' && !escaped)
			*c = ' ';
		if (*c == '/' && !t->in_args)
			t->state = S_SLASH;
		return true;
	case S_SLASH:
		if (*c == '/')
			return false;
		if (*c == '.') {
			t->state = S_DOT;
			return false;
		}
		t->state = S_IDLE;
		return true;
	case S_DOT:
		if (*c == '.' || *c == '/') {
			t->state = *c == '.' ? S_DOTDOT : S_SLASH;
			return false;
		}
		t->state = S_IDLE;
		put(t, '.');
		return true;
	case S_DOTDOT:
		if (*c == '/' || *c == '?') {
			back_up(t);
			t->state = S_SLASH;
			return cur(t)->len > 1;
		}
		put(t, '.');
		put(t, '.');
		t->state = S_IDLE;
		return true;
	}
	return true;
}

static void feed(target *t, char c, bool escaped)
{
	if (!track_slashes(t, &c, escaped))
		return;
	if (c == '?' && !escaped && !t->in_args) {
		next_frag(t, F_ARG);
		t->in_args = true;
		t->state = S_IDLE;
		return;
	}
	put(t, c);
}

/* Decode s into t. Returns 0, or the HTTP status that refuses it. */
static int decode_target(vbx_request *r, const char *s, target *t,
                         const char **why)
{
	size_t n = strcspn(s, "#");
	t->buf = vbx__arena_alloc(r->arena, 2 * n + 2);
	t->frags = vbx__arena_alloc(r->arena, (n + 2) * sizeof(*t->frags));
	if (!t->buf || !t->frags)
		return 500;
	t->frags[t->nfrags++] = (frag){.kind = F_PATH};
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool escaped = c == '%';
		if (c <= ' ') {
			*why = "a raw space or control character (send it "
			       "percent-encoded)";
			return 400;
		}
		if (escaped) {
			int hi = vbx_hex_value(s[i + 1]);
			int lo = hi < 0 ? -1 : vbx_hex_value(s[i + 2]);
			if (lo < 0) {
				*why = "a malformed %-escape";
				return 403;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (c < ' ') {
				*why = "an escaped control character";
				return 403;
			}
		}
		feed(t, (char)c, escaped);
	}
	if (cur(t)->len == 0)
		put(t, '/');
	if (t->state == S_DOTDOT)
		back_up(t);
	t->buf[t->pos] = '\0';
	return 0;
}

/* The arguments as server.c's query snapshot gives them: split at the
 * first "=", up to the first that its buffer cannot hold. */
static void set_query(vbx_request *r, target *t)
{
	size_t n = 0;
	r->query = vbx__arena_calloc(r->arena, t->nfrags, sizeof(*r->query));
	for (size_t i = 1; r->query && i < t->nfrags; i++) {
		const frag *f = &t->frags[i];
		if (f->kind != F_ARG)
			continue;
		if (f->len >= QUERY_ARG_MAX)
			break;
		const char *a = t->buf + f->off;
		const char *eq = memchr(a, '=', f->len);
		size_t nlen = eq ? (size_t)(eq - a) : f->len;
		r->query[n].name = vbx__arena_strndup(r->arena, a, nlen);
		r->query[n].value = eq ? eq + 1 : "";
		n++;
	}
	r->nquery = n;
}

/* ---- headers: those the daemon copies for a handler ---- */

static const char *const custom_headers[] = {"x-request-id", "x-forwarded-for",
                                             "x-real-ip"};

/* One of the headers server.c copies by name (lws has no token for them)? */
static bool is_custom(const char *name)
{
	for (size_t i = 0; i < sizeof(custom_headers) / sizeof(*custom_headers);
	     i++)
		if (strcmp(custom_headers[i], name) == 0)
			return true;
	return false;
}

/* Does a handler see the header (lower-case name)? Those lws knows by a
 * token, and the custom ones. */
static bool header_passed(const char *name, size_t n)
{
	if (is_custom(name))
		return true;
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *tok = (const char *)lws_token_to_string(
		        (enum lws_token_indexes)t);
		if (tok && t != WSI_TOKEN_HTTP_URI_ARGS &&
		    strlen(tok) == n + 1 && tok[n] == ':' &&
		    memcmp(tok, name, n) == 0)
			return true;
	}
	return false;
}

static vbx__header *find_header(vbx_request *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return &r->headers[i];
	return NULL;
}

/* Add "Name: value"; a repeat joins the values, as lws does for the
 * headers it knows (cookies with ";"), and is dropped for custom ones. */
static void add_header(vbx_request *r, size_t cap, const char *line)
{
	const char *colon = strchr(line, ':');
	if (!colon || colon == line || r->nheaders == cap) {
		vbx__warn("test request header \"%s\" is not \"Name: value\"; "
		          "ignored",
		          line);
		return;
	}
	char *name = vbx__arena_strndup(r->arena, line, (size_t)(colon - line));
	const char *value = colon + 1 + strspn(colon + 1, " \t");
	if (!name)
		return;
	for (char *c = name; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	if (!header_passed(name, strlen(name))) {
		vbx__warn("test request header \"%s\": vibeboxd does not pass "
		          "it to plugins (libwebsockets does not know it); "
		          "dropped",
		          name);
		return;
	}
	vbx__header *old = find_header(r, name);
	if (!old)
		r->headers[r->nheaders++] =
		        (vbx__header){name, vbx__arena_strdup(r->arena, value)};
	else if (!is_custom(name))
		old->value = vbx__arena_printf(
		        r->arena, "%s%s%s", old->value,
		        strcmp(name, "cookie") == 0 ? ";" : ",", value);
}

static void set_headers(vbx_request *r, const char *const *headers,
                        size_t body_len)
{
	size_t n = 1;
	for (const char *const *h = headers; h && *h; h++)
		n++;
	r->headers = vbx__arena_calloc(r->arena, n, sizeof(*r->headers));
	if (!r->headers)
		return;
	for (const char *const *h = headers; h && *h; h++)
		add_header(r, n, *h);
	if (body_len && !find_header(r, "content-length") && r->nheaders < n)
		r->headers[r->nheaders++] = (vbx__header){
		        "content-length",
		        vbx__arena_printf(r->arena, "%zu", body_len)};
}

/* ---- running a request, as server.c's dispatch() and worker do ---- */

static const char *const lws_methods[] = {"GET",   "POST",   "OPTIONS", "PUT",
                                          "PATCH", "DELETE", "CONNECT", "HEAD"};

static bool method_known(const char *m)
{
	for (size_t i = 0; i < sizeof(lws_methods) / sizeof(*lws_methods); i++)
		if (strcmp(m, lws_methods[i]) == 0)
			return true;
	return false;
}

static void dispatch(vbx_test_host *h, vbx_request *r)
{
	if (vbx__dispatch_match(r, MAX_BODY) != VBX__DISPATCH_ANSWERED)
		vbx__dispatch_run(r, h->has_principal ? &h->principal : NULL);
}

/* Build the request; false when it was answered already (bad target). */
static bool prepare(vbx_request *r, const char *method, const char *target_s,
                    const char *const *headers, const void *body,
                    size_t body_len)
{
	target t = {0};
	const char *why = "";
	r->method = vbx__arena_strdup(r->arena, method);
	snprintf(r->client, sizeof(r->client), "127.0.0.1");
	if (!vbx__method_has_body(method))
		body_len = 0;
	set_headers(r, headers, body_len);
	vbx__request_set_id(r, vbx__request_header(r, "x-request-id"));
	if (!r->method) {
		vbx__respond_error(r, 500, NULL, "out of memory");
		return false;
	}
	if (!method_known(method)) {
		r->path = target_s;
		vbx__respond_error(r, 400, NULL,
		                   "%s: not a method libwebsockets accepts "
		                   "(GET POST PUT PATCH DELETE ...)",
		                   method);
		return false;
	}
	int status = decode_target(r, target_s, &t, &why);
	if (status) {
		r->path = target_s;
		vbx__respond_error(r, status, NULL, "%s %s: the target has %s",
		                   method, target_s, why);
		return false;
	}
	r->path = t.buf;
	set_query(r, &t);
	if (body_len)
		vbx__request_append_body(r, body, body_len, MAX_BODY);
	return true;
}

/* ---- responses ---- */

static bool add_response_header(vbx_test_response *res, const char *name,
                                const char *value)
{
	size_t n = res->nheaders;
	char **names = realloc(res->names, (n + 1) * sizeof(*names));
	if (names)
		res->names = names;
	char **values = realloc(res->values, (n + 1) * sizeof(*values));
	if (values)
		res->values = values;
	if (!names || !values)
		return false;
	names[n] = strdup(name);
	values[n] = strdup(value);
	res->nheaders++;
	return names[n] && values[n];
}

static bool copy_headers(vbx_test_response *res, const vbx_request *r)
{
	char len[32];
	snprintf(len, sizeof(len), "%zu", r->resp_len);
	bool ok = true;
	if (r->content_type)
		ok = add_response_header(res, "content-type", r->content_type);
	/* as the server: no Content-Length on a 304 */
	if (r->status != 304)
		ok = ok && add_response_header(res, "content-length", len);
	ok = ok && add_response_header(res, "x-request-id", r->id);
	for (size_t i = 0; ok && i < r->nresp_headers; i++)
		ok = add_response_header(res, r->resp_headers[i].name,
		                         r->resp_headers[i].value);
	return ok;
}

static vbx_test_response *response_of(const vbx_request *r)
{
	vbx_test_response *res = calloc(1, sizeof(*res));
	if (!res)
		return NULL;
	res->status = r->status;
	/* HEAD: the headers GET would have, no body, as the server sends */
	res->body_len = r->head_only ? 0 : r->resp_len;
	res->body = malloc(res->body_len + 1);
	if (!res->body || !copy_headers(res, r)) {
		vbx_test_response_free(res);
		return NULL;
	}
	if (res->body_len)
		memcpy(res->body, r->resp, res->body_len);
	res->body[res->body_len] = '\0';
	if (res->body_len)
		res->json = cJSON_ParseWithLength(res->body, res->body_len);
	return res;
}

VBX_EXPORT vbx_test_response *
vbx_test_send(vbx_test_host *h, const char *method, const char *path_and_query,
              const char *const *headers, const void *body, size_t body_len)
{
	if (!h->started || h->failed) {
		error(h, "vbx_test_send %s %s: %s", method, path_and_query,
		      h->started ? "a plugin failed to start"
		                 : "call vbx_test_start() first");
		return NULL;
	}
	vbx_request *r = vbx__request_new(NULL);
	if (!r)
		return NULL;
	if (prepare(r, method, path_and_query, headers, body, body_len))
		dispatch(h, r);
	vbx_test_response *res = response_of(r);
	vbx__request_free(r);
	return res;
}

VBX_EXPORT vbx_test_response *vbx_test_request(vbx_test_host *h,
                                               const char *method,
                                               const char *path_and_query,
                                               const char *json_body,
                                               const char *bearer)
{
	char *auth = NULL;
	const char *headers[3] = {NULL};
	size_t n = 0;
	if (bearer && asprintf(&auth, "Authorization: Bearer %s", bearer) < 0)
		return NULL;
	if (auth)
		headers[n++] = auth;
	if (json_body)
		headers[n++] = "Content-Type: application/json";
	vbx_test_response *res =
	        vbx_test_send(h, method, path_and_query, headers, json_body,
	                      json_body ? strlen(json_body) : 0);
	free(auth);
	return res;
}

VBX_EXPORT int vbx_test_status(const vbx_test_response *res)
{
	return res ? res->status : 0;
}

VBX_EXPORT const char *vbx_test_body(const vbx_test_response *res)
{
	return res ? res->body : "";
}

VBX_EXPORT size_t vbx_test_body_len(const vbx_test_response *res)
{
	return res ? res->body_len : 0;
}

VBX_EXPORT const cJSON *vbx_test_json(const vbx_test_response *res)
{
	return res ? res->json : NULL;
}

VBX_EXPORT const char *vbx_test_header(const vbx_test_response *res,
                                       const char *name)
{
	for (size_t i = 0; res && i < res->nheaders; i++)
		if (strcasecmp(res->names[i], name) == 0)
			return res->values[i];
	return NULL;
}

VBX_EXPORT void vbx_test_response_free(vbx_test_response *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nheaders; i++) {
		free(res->names[i]);
		free(res->values[i]);
	}
	free(res->names);
	free(res->values);
	free(res->body);
	cJSON_Delete(res->json);
	free(res);
}

/* ---- waiting for events and work ---- */

static void nap(void)
{
	struct timespec ts = {0, 1000000};
	nanosleep(&ts, NULL);
}

static int wait_events(vbx_test_host *h, int64_t deadline)
{
	for (;;) {
		vbx__event_stats st;
		vbx__events_stats(&st);
		if (st.delivered >= st.published)
			return VBX_OK;
		if (vbx__now_ns() > deadline) {
			error(h,
			      "vbx_test_flush: %llu events still undelivered "
			      "after 10 s; does a subscriber block?",
			      (unsigned long long)(st.published -
			                           st.delivered));
			return VBX_ETIMEDOUT;
		}
		nap();
	}
}

VBX_EXPORT int vbx_test_flush_events(vbx_test_host *h)
{
	if (!h->started)
		return VBX_ESTATE;
	return wait_events(h, vbx__now_ns() + FLUSH_TIMEOUT_NS);
}

/* A task queued behind everything submitted so far: with one worker,
 * when it runs, they have. Freed by whichever side finishes last. */
typedef struct marker {
	atomic_bool ran;
	atomic_int refs;
} marker;

static void marker_unref(marker *m)
{
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

static void marker_run(void *ud)
{
	marker *m = ud;
	atomic_store(&m->ran, true);
	marker_unref(m);
}

static int wait_work(vbx_test_host *h, int64_t deadline)
{
	marker *m = calloc(1, sizeof(*m));
	if (!m)
		return VBX_ENOMEM;
	atomic_init(&m->refs, 2);
	if (vbx__workers_submit(marker_run, m) != VBX_OK) {
		free(m);
		return VBX_ESTATE;
	}
	int rc = VBX_OK;
	while (!atomic_load(&m->ran) && rc == VBX_OK) {
		if (vbx__now_ns() > deadline) {
			error(h, "vbx_test_flush_work: submitted work still "
			         "runs after 10 s; does a task block?");
			rc = VBX_ETIMEDOUT;
		}
		nap();
	}
	marker_unref(m);
	return rc;
}

VBX_EXPORT int vbx_test_flush_work(vbx_test_host *h)
{
	if (!h->started)
		return VBX_ESTATE;
	int64_t deadline = vbx__now_ns() + FLUSH_TIMEOUT_NS;
	for (;;) {
		vbx__event_stats before, after;
		unsigned long submitted = atomic_load(&h->submitted);
		vbx__events_stats(&before);
		int rc = wait_work(h, deadline);
		if (rc == VBX_OK)
			rc = wait_events(h, deadline);
		if (rc != VBX_OK)
			return rc;
		vbx__events_stats(&after);
		if (after.published == before.published &&
		    atomic_load(&h->submitted) == submitted)
			return VBX_OK;
	}
}
