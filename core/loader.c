/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader.c - open the configured plugins, check their descriptors, order
 * them by what they require and provide, and run their lifecycle.
 *
 * Loading is done in passes so that `vibeboxd -t` can print every problem
 * at once: first every file is opened and checked, then every requirement
 * is resolved, and only when both passes are clean is any plugin's code
 * beyond its entry function run. No shared object is ever closed: threads
 * or timers that outlive a dlclose() crash the daemon, and a plugin's code
 * staying mapped until exit costs nothing.
 */
#include "vbx_build.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/*
 * The descriptor bytes this daemon reads: everything up to fini. A plugin
 * built for an older minor may have a shorter descriptor than ours, but
 * never one shorter than this.
 */
#define DESC_MIN_SIZE                                                          \
	(offsetof(vbx_plugin_desc, fini) + sizeof(((vbx_plugin_desc *)0)->fini))

static const vbx_plugin_desc core_desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "core",
        .version = VERSION,
        .description = "the vibeboxd daemon itself",
};

static char core_name[] = "core";

static vbx_plugin core_plugin = {
        .head = {&vbx__host},
        .name = core_name,
        .desc = &core_desc,
        .order = -1,
        .state = VBX__PLUGIN_STARTED,
};

/* The host table handed to each plugin (tests substitute their own). */
static const vbx_host *loader_host = &vbx__host;

/* The loaded plugins: in config order while loading, then in start order. */
static vbx_plugin **plugins;
static size_t nplugins;

void vbx__loader_set_host(const vbx_host *host)
{
	loader_host = host;
	core_plugin.head.host = host;
}

vbx_plugin *vbx__core_plugin(void)
{
	return &core_plugin;
}

size_t vbx__plugins_count(void)
{
	return nplugins;
}

vbx_plugin *vbx__plugins_at(size_t i)
{
	return i < nplugins ? plugins[i] : NULL;
}

/* ---- opening and checking one shared object ---- */

static void plugin_free(vbx_plugin *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->file);
	free(p);
}

/* Add "plugin \"NAME\": FILE: message", or its shorter forms (core.h). */
static void plugin_error(vbx__errors *errs, const char *name, const char *file,
                         const char *fmt, ...) VBX_PRINTF(4, 5);
static void plugin_error(vbx__errors *errs, const char *name, const char *file,
                         const char *fmt, ...)
{
	char *msg = NULL;
	const char *text;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	text = msg ? msg : "(out of memory while describing the error)";
	if (name && file)
		vbx__errors_add(errs, "plugin \"%s\": %s: %s", name, file,
		                text);
	else if (name)
		vbx__errors_add(errs, "plugin \"%s\": %s", name, text);
	else
		vbx__errors_add(errs, "plugin descriptor: %s", text);
	free(msg);
}

/* dlerror() text usually starts with the file's path, which our message
 * already names; drop it so the line stays readable. */
static const char *dl_reason(const char *file)
{
	const char *err = dlerror();
	size_t n = strlen(file);
	if (!err)
		return "unknown error";
	if (strncmp(err, file, n) == 0 && strncmp(err + n, ": ", 2) == 0)
		return err + n + 2;
	return err;
}

static int open_file(const char *name, const char *file, void **dl,
                     vbx__errors *errs)
{
	*dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (*dl)
		return VBX_OK;
	if (access(file, F_OK) != 0 && errno == ENOENT) {
		plugin_error(errs, name, file,
		             "cannot open: no such file; is the plugin "
		             "installed?");
		return VBX_ENOTFOUND;
	}
	plugin_error(errs, name, file,
	             "cannot open: %s; is it a vibeboxd plugin built for this "
	             "system, with the libraries it needs installed?",
	             dl_reason(file));
	return VBX_EINVAL;
}

static int find_descriptor(const char *name, const char *file, void *dl,
                           const vbx_plugin_desc **desc, vbx__errors *errs)
{
	vbx_plugin_entry_fn *entry;

	dlerror();
	/* POSIX's sanctioned way to turn a dlsym() result into a function. */
	*(void **)&entry = dlsym(dl, VBX_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		plugin_error(errs, name, file,
		             "no entry symbol \"%s\"; is it a vibeboxd plugin?",
		             VBX_PLUGIN_ENTRY_SYMBOL);
		return VBX_EINVAL;
	}
	*desc = entry();
	if (!*desc) {
		plugin_error(errs, name, file,
		             "%s() returned no descriptor; the plugin is "
		             "broken, contact its author",
		             VBX_PLUGIN_ENTRY_SYMBOL);
		return VBX_EINVAL;
	}
	return VBX_OK;
}

int vbx__plugin_open(const char *name, const char *file, void **dl,
                     const vbx_plugin_desc **desc, vbx__errors *errs)
{
	int rc = open_file(name, file, dl, errs);

	*desc = NULL;
	if (rc == VBX_OK)
		rc = find_descriptor(name, file, *dl, desc, errs);
	return rc;
}

/* Magic, ABI and size: can this daemon read the descriptor at all? */
static int check_abi(const vbx_plugin_desc *d, const char *name,
                     const char *file, vbx__errors *errs)
{
	if (d->magic != VBX_PLUGIN_MAGIC) {
		plugin_error(errs, name, file,
		             "bad magic 0x%08x (expected 0x%08x); not a "
		             "vibeboxd plugin or corrupt",
		             d->magic, VBX_PLUGIN_MAGIC);
		return VBX_EINVAL;
	}
	if (d->abi_major != VBX_ABI_MAJOR) {
		plugin_error(errs, name, file,
		             "built for plugin ABI %u.%u, this vibeboxd has "
		             "ABI %d.%d; rebuild the plugin against this SDK",
		             d->abi_major, d->abi_minor, VBX_ABI_MAJOR,
		             VBX_ABI_MINOR);
		return VBX_EINVAL;
	}
	if (d->abi_minor > VBX_ABI_MINOR) {
		plugin_error(errs, name, file,
		             "built for plugin ABI %u.%u, newer than this "
		             "vibeboxd's %d.%d; upgrade vibeboxd or use an "
		             "older plugin",
		             d->abi_major, d->abi_minor, VBX_ABI_MAJOR,
		             VBX_ABI_MINOR);
		return VBX_EINVAL;
	}
	if (d->struct_size < DESC_MIN_SIZE) {
		plugin_error(errs, name, file,
		             "descriptor is %u bytes, ABI %u.%u needs at least "
		             "%zu; the plugin is corrupt, rebuild it against "
		             "this SDK",
		             d->struct_size, d->abi_major, d->abi_minor,
		             (size_t)DESC_MIN_SIZE);
		return VBX_EINVAL;
	}
	return VBX_OK;
}

/* The name: the one configured, or (none configured) a valid one. */
static int check_name(const vbx_plugin_desc *d, const char *name,
                      const char *file, vbx__errors *errs)
{
	if (!d->name) {
		plugin_error(errs, name, file,
		             "descriptor has no name; the plugin is broken, "
		             "contact its author");
		return VBX_EINVAL;
	}
	if (name && strcmp(d->name, name) != 0) {
		plugin_error(errs, name, file,
		             "descriptor names the plugin \"%s\"; configure it "
		             "as \"%s\" and install it as %s.so",
		             d->name, d->name, d->name);
		return VBX_EINVAL;
	}
	if (!name && !vbx__plugin_name_valid(d->name)) {
		plugin_error(errs, name, file,
		             "name \"%s\" is not a plugin name; use a-z, 0-9 "
		             "and '-'",
		             d->name);
		return VBX_EINVAL;
	}
	return VBX_OK;
}

int vbx__desc_check(const vbx_plugin_desc *d, const char *name,
                    const char *file, vbx__errors *errs)
{
	int rc = check_abi(d, name, file, errs);

	if (rc == VBX_OK)
		rc = check_name(d, name, file, errs);
	if (rc != VBX_OK)
		return rc;
	if (!d->init || !d->fini) {
		/* The name is known and valid by now: say which plugin. */
		plugin_error(errs, d->name, file,
		             "mandatory function%s %s is NULL",
		             !d->init && !d->fini ? "s" : "",
		             !d->init ? (!d->fini ? "init and fini" : "init")
		                      : "fini");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

static char *file_in(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *path = NULL;
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (asprintf(&path, "%.*s/%s.so", (int)n, dir, name) < 0)
		return NULL;
	return path;
}

/* Say that no directory of conf's plugin path holds NAME.so, naming them
 * all in search order. */
static void report_not_found(const vbx__conf *conf, const char *name,
                             vbx__errors *errs)
{
	char *dirs = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&dirs, &len);

	for (size_t i = 0; f && i < conf->nplugin_path; i++)
		fprintf(f, "%s%s", i ? ", " : "", conf->plugin_path[i]);
	if (f)
		fclose(f);
	plugin_error(errs, name, NULL,
	             "%s.so not found in %s (searched %s); is the plugin "
	             "installed in one of these directories?",
	             name,
	             conf->plugin_path_key ? conf->plugin_path_key
	                                   : "plugin_path",
	             dirs ? dirs : "(out of memory)");
	free(dirs);
}

/*
 * The path of NAME.so in the first directory of conf's plugin path that
 * has it (or that cannot be searched: opening it then says why), in
 * *file. VBX_ENOTFOUND, reported, when no directory has it.
 */
static int find_file(const vbx__conf *conf, const char *name, char **file,
                     vbx__errors *errs)
{
	*file = NULL;
	for (size_t i = 0; i < conf->nplugin_path; i++) {
		char *path = file_in(conf->plugin_path[i], name);
		if (!path)
			return VBX_ENOMEM;
		if (access(path, F_OK) == 0 || errno != ENOENT) {
			*file = path;
			return VBX_OK;
		}
		free(path);
	}
	report_not_found(conf, name, errs);
	return VBX_ENOTFOUND;
}

/* Open conf->plugins[i] and check it; *out is the new plugin or NULL. */
static int plugin_open(const vbx__conf *conf, size_t i, vbx_plugin **out,
                       vbx__errors *errs)
{
	const vbx__plugin_conf *pc = &conf->plugins[i];
	vbx_plugin *p = calloc(1, sizeof(*p));
	int rc = VBX_ENOMEM;

	*out = NULL;
	if (!p)
		goto fail;
	p->head.host = loader_host;
	p->order = (int)i;
	p->state = VBX__PLUGIN_LOADED;
	p->cfg = pc->block;
	p->name = strdup(pc->name);
	if (!p->name)
		goto fail;
	rc = find_file(conf, pc->name, &p->file, errs);
	if (rc == VBX_OK)
		rc = vbx__plugin_open(p->name, p->file, &p->dl, &p->desc, errs);
	if (rc == VBX_OK)
		rc = vbx__desc_check(p->desc, p->name, p->file, errs);
	if (rc != VBX_OK)
		goto fail;
	vbx__debug("plugin %s %s opened from %s", p->name,
	           p->desc->version ? p->desc->version : "-", p->file);
	*out = p;
	return VBX_OK;
fail:
	if (rc == VBX_ENOMEM)
		vbx__errors_add(errs, "plugin \"%s\": out of memory", pc->name);
	plugin_free(p);
	return rc;
}

/* ---- the configured list ---- */

/* The name becomes part of a path: keep it to config.c's plain names,
 * even when a caller built the list by hand. */
static int check_entry(const vbx__conf *conf, size_t i, vbx__errors *errs)
{
	const vbx__plugin_conf *pc = &conf->plugins[i];

	if (!vbx__plugin_name_valid(pc->name)) {
		vbx__errors_add(
		        errs,
		        "%s:%d: plugins: plugin name \"%s\" is not valid; "
		        "use a-z, 0-9 and '-'",
		        conf->path, pc->line, pc->name);
		return VBX_EINVAL;
	}
	for (size_t j = 0; j < i; j++) {
		if (strcmp(conf->plugins[j].name, pc->name) == 0) {
			vbx__errors_add(errs,
			                "%s:%d: plugins: plugin \"%s\" is "
			                "listed twice (first on line %d); "
			                "remove one entry",
			                conf->path, pc->line, pc->name,
			                conf->plugins[j].line);
			return VBX_EINVAL;
		}
	}
	return VBX_OK;
}

/* Open and check every configured plugin, whatever fails on the way. */
static int open_all(const vbx__conf *conf, vbx__errors *errs)
{
	int first = VBX_OK;

	if (!conf->nplugin_path) {
		vbx__errors_add(errs, "%s: plugin_path is empty", conf->path);
		return VBX_EINVAL;
	}
	plugins = calloc(conf->nplugins ? conf->nplugins : 1, sizeof(*plugins));
	if (!plugins) {
		vbx__errors_add(errs, "plugins: out of memory");
		return VBX_ENOMEM;
	}
	for (size_t i = 0; i < conf->nplugins; i++) {
		vbx_plugin *p = NULL;
		int rc = check_entry(conf, i, errs);
		if (rc == VBX_OK)
			rc = plugin_open(conf, i, &p, errs);
		if (rc != VBX_OK && first == VBX_OK)
			first = rc;
		if (p)
			plugins[nplugins++] = p;
	}
	return first;
}

/* ---- requires and provides ---- */

bool vbx__desc_provides(const vbx_plugin_desc *d, const char *cap)
{
	for (const char *const *c = d->provides; c && *c; c++)
		if (strcmp(*c, cap) == 0)
			return true;
	return false;
}

int vbx__desc_check_requires(const vbx_plugin_desc *d, const char *name,
                             vbx__provided_fn *provided, void *ud,
                             const char *why, vbx__errors *errs)
{
	int rc = VBX_OK;

	for (const char *const *r = d->requires; r && *r; r++) {
		if (vbx__desc_provides(d, *r) || provided(*r, ud))
			continue;
		vbx__errors_add(errs,
		                "plugin \"%s\" requires capability \"%s\", "
		                "which %s",
		                name, *r, why);
		rc = VBX_EUNAVAIL;
	}
	return rc;
}

/* Must b be inited before a? A plugin that provides what it requires
 * satisfies itself. */
static bool depends_on(const vbx_plugin *a, const vbx_plugin *b)
{
	if (a == b)
		return false;
	for (const char *const *r = a->desc->requires; r && *r; r++)
		if (vbx__desc_provides(b->desc, *r))
			return true;
	return false;
}

static bool provided(const char *cap, void *ud)
{
	for (size_t i = 0; i < nplugins; i++)
		if (vbx__desc_provides(plugins[i]->desc, cap))
			return true;
	return false;
}

static int check_requires(vbx__errors *errs)
{
	int rc = VBX_OK;

	for (size_t i = 0; i < nplugins; i++) {
		int r = vbx__desc_check_requires(
		        plugins[i]->desc, plugins[i]->name, provided, NULL,
		        "no enabled plugin provides; enable a plugin that "
		        "provides it",
		        errs);
		if (r != VBX_OK)
			rc = r;
	}
	return rc;
}

/* The lowest-order plugin not yet placed whose dependencies all are;
 * nplugins when there is none. */
static size_t next_ready(const bool *placed)
{
	for (size_t i = 0; i < nplugins; i++) {
		if (placed[i])
			continue;
		size_t j = 0;
		while (j < nplugins &&
		       (placed[j] || !depends_on(plugins[i], plugins[j])))
			j++;
		if (j == nplugins)
			return i;
	}
	return nplugins;
}

/* An unplaced plugin that `i` waits for (one exists when i is not ready). */
static size_t first_blocker(const bool *placed, size_t i)
{
	for (size_t j = 0; j < nplugins; j++)
		if (!placed[j] && depends_on(plugins[i], plugins[j]))
			return j;
	return nplugins;
}

/*
 * Nothing is ready, so every unplaced plugin waits for another unplaced
 * one: walking `requires` from any of them must come back to a plugin
 * already seen. Report that loop and mark its members placed, so that the
 * caller can go on and find any other cycle.
 */
static void report_cycle(bool *placed, vbx__errors *errs)
{
	size_t *path = calloc(nplugins + 1, sizeof(*path));
	size_t len = 0, start = 0, cur = 0;
	char *text = NULL;
	size_t textlen = 0;
	FILE *f;

	while (placed[cur])
		cur++;
	if (!path)
		goto unnamed;
	for (;;) {
		for (start = 0; start < len && path[start] != cur; start++)
			;
		if (start < len)
			break;
		path[len++] = cur;
		cur = first_blocker(placed, cur);
		if (cur == nplugins) /* cannot happen; see above */
			goto unnamed;
	}
	f = open_memstream(&text, &textlen);
	if (!f)
		goto unnamed;
	for (size_t k = start; k < len; k++) {
		fprintf(f, "%s -> ", plugins[path[k]]->name);
		placed[path[k]] = true;
	}
	fprintf(f, "%s", plugins[path[start]]->name);
	fclose(f);
	vbx__errors_add(errs,
	                "dependency cycle among plugins: %s; disable one of "
	                "these plugins",
	                text);
	free(text);
	free(path);
	return;
unnamed:
	vbx__errors_add(errs, "dependency cycle among plugins (out of memory "
	                      "while naming it)");
	for (size_t i = 0; i < nplugins; i++)
		placed[i] = true;
	free(path);
}

/* Reorder the plugins topologically, ties in config order. */
static int sort_by_dependencies(vbx__errors *errs)
{
	vbx_plugin **sorted = calloc(nplugins + 1, sizeof(*sorted));
	bool *placed = calloc(nplugins + 1, sizeof(*placed));
	size_t nsorted = 0, nplaced = 0;
	int rc = VBX_OK;

	if (!sorted || !placed) {
		vbx__errors_add(errs, "plugins: out of memory");
		rc = VBX_ENOMEM;
		goto out;
	}
	while (nplaced < nplugins) {
		size_t i = next_ready(placed);
		if (i == nplugins) {
			report_cycle(placed, errs);
			rc = VBX_EINVAL;
		} else {
			placed[i] = true;
			sorted[nsorted++] = plugins[i];
		}
		nplaced = 0;
		for (size_t k = 0; k < nplugins; k++)
			nplaced += placed[k];
	}
	if (rc == VBX_OK)
		memcpy(plugins, sorted, nplugins * sizeof(*plugins));
out:
	free(sorted);
	free(placed);
	return rc;
}

void vbx__plugin_fini(vbx_plugin *p)
{
	if (p->state != VBX__PLUGIN_INITED && p->state != VBX__PLUGIN_STOPPED)
		return;
	vbx__debug("finalising plugin %s", p->name);
	p->desc->fini(p);
	p->state = VBX__PLUGIN_LOADED;
}

/* Finalise, in reverse order, the inited plugins among the first n. */
static void fini_first(size_t n)
{
	while (n-- > 0)
		vbx__plugin_fini(plugins[n]);
}

/* ---- validating a block ---- */

typedef int validate_fn(vbx_plugin *self, const vbx_config *cfg);

/* The descriptor bytes up to and including validate (ABI 1.1). */
#define DESC_VALIDATE_END                                                      \
	(offsetof(vbx_plugin_desc, validate) +                                 \
	 sizeof(((vbx_plugin_desc *)0)->validate))

/* d's validate step, or NULL. The slot was reserved in ABI 1.0, so only
 * a descriptor built for 1.1 or later, and long enough, has one. */
static validate_fn *validate_of(const vbx_plugin_desc *d)
{
	if (d->abi_minor < 1 || d->struct_size < DESC_VALIDATE_END)
		return NULL;
	return d->validate;
}

bool vbx__plugin_has_validate(const vbx_plugin *p)
{
	return validate_of(p->desc) != NULL;
}

/*
 * Run p's validate on block with its errors going to errs, then call
 * every key it did not read unknown, as after init. A validate that
 * returns VBX_OK despite recorded errors, or fails without saying why,
 * is refused all the same, with a line that says so.
 */
static int run_validate(vbx_plugin *p, vbx_config *block, vbx__errors *errs)
{
	size_t before = errs->count;
	vbx__errors *saved = block->errs;
	int rc;

	vbx__debug("validating the block of plugin %s", p->name);
	block->errs = errs;
	rc = validate_of(p->desc)(p, block);
	block->errs = saved;
	if (rc == VBX_OK && errs->count > before) {
		plugin_error(errs, p->name, p->file,
		             "validate reported success, but the errors above "
		             "were recorded during it");
		return VBX_EINVAL;
	}
	if (rc != VBX_OK && errs->count == before)
		plugin_error(errs, p->name, p->file,
		             "validate refused its block without saying why "
		             "(%s); contact the plugin's author",
		             vbx__strerror(rc));
	if (rc == VBX_OK && vbx__config_check_unknown(block, errs))
		rc = VBX_EINVAL;
	return rc;
}

int vbx__plugin_validate(vbx_plugin *p, vbx_config *block, vbx__errors *errs)
{
	if (validate_of(p->desc))
		return run_validate(p, block, errs);
	if (vbx__config_same(block, p->cfg))
		return VBX_OK;
	vbx_config view = *block; /* report to errs */
	view.errs = errs;
	return vbx__cfg_report(
	        &view, NULL, NULL,
	        "changed, but plugin \"%s\" has no validate step to check "
	        "it (built for plugin ABI %u.%u, or without one): restart "
	        "vibeboxd to apply this block, or put the running one back",
	        p->name, p->desc->abi_major, p->desc->abi_minor);
}

/* ---- lifecycle ---- */

/*
 * A plugin with a validate step has its block checked by it first, so
 * that `vibeboxd -t` refuses whatever a reload would refuse. An init that
 * returns VBX_OK despite errors recorded meanwhile still fails the load;
 * it is finalised with the others, since it believes it succeeded and
 * holds what it allocated.
 */
int vbx__plugin_init(vbx_plugin *p, vbx__errors *errs)
{
	size_t before = errs->count;
	vbx__errors *saved = p->cfg ? p->cfg->errs : NULL;
	int rc;

	if (p->cfg && validate_of(p->desc) &&
	    run_validate(p, p->cfg, errs) != VBX_OK) {
		plugin_error(errs, p->name, p->file,
		             "not initialised: its config block has the errors "
		             "above");
		return VBX_EINVAL;
	}
	vbx__debug("initialising plugin %s", p->name);
	if (vbx__desc_provides(p->desc, "metrics")) /* a test host's load */
		vbx__metrics_set_enabled(true);
	if (p->cfg)
		p->cfg->errs = errs;
	vbx__registry_set_errors(errs);
	rc = p->desc->init(p, p->cfg);
	vbx__registry_set_errors(NULL);
	if (p->cfg)
		p->cfg->errs = saved;
	if (rc != VBX_OK) {
		plugin_error(errs, p->name, p->file, "init failed: %s",
		             vbx__strerror(rc));
		return rc;
	}
	p->state = VBX__PLUGIN_INITED;
	if (errs->count > before) {
		plugin_error(errs, p->name, p->file,
		             "init failed: it reported success, but the errors "
		             "above were recorded during it");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

static int init_all(vbx__errors *errs)
{
	for (size_t i = 0; i < nplugins; i++) {
		int rc = vbx__plugin_init(plugins[i], errs);
		if (rc != VBX_OK) {
			fini_first(i + 1);
			return rc;
		}
	}
	return VBX_OK;
}

int vbx__plugins_load(vbx__conf *conf, vbx__errors *errs)
{
	int rc;

	if (plugins) {
		vbx__errors_add(errs, "plugins are loaded already");
		return VBX_ESTATE;
	}
	/* Every file is checked before giving up, but requirements only
	 * once all are open: a plugin that failed to open would otherwise
	 * show up again as a missing capability. */
	rc = open_all(conf, errs);
	if (rc != VBX_OK)
		return rc;
	rc = check_requires(errs);
	if (rc == VBX_OK)
		rc = sort_by_dependencies(errs);
	if (rc != VBX_OK)
		return rc;
	for (size_t i = 0; i < nplugins; i++)
		if (vbx__desc_provides(plugins[i]->desc, "metrics"))
			vbx__metrics_set_enabled(true);
	return init_all(errs);
}

void vbx__plugin_stop(vbx_plugin *p)
{
	if (p->state != VBX__PLUGIN_STARTED)
		return;
	vbx__debug("stopping plugin %s", p->name);
	if (p->desc->stop)
		p->desc->stop(p);
	p->state = VBX__PLUGIN_STOPPED;
}

int vbx__plugin_start(vbx_plugin *p, vbx__errors *errs)
{
	int rc = p->desc->start ? p->desc->start(p) : VBX_OK;

	if (rc != VBX_OK) {
		plugin_error(errs, p->name, p->file, "start failed: %s",
		             vbx__strerror(rc));
		return rc;
	}
	p->state = VBX__PLUGIN_STARTED;
	vbx__debug("started plugin %s", p->name);
	return VBX_OK;
}

int vbx__plugins_start(vbx__errors *errs)
{
	for (size_t i = 0; i < nplugins; i++) {
		int rc = vbx__plugin_start(plugins[i], errs);
		if (rc != VBX_OK) {
			vbx__plugins_stop();
			return rc;
		}
	}
	return VBX_OK;
}

void vbx__plugins_stop(void)
{
	for (size_t i = nplugins; i-- > 0;)
		vbx__plugin_stop(plugins[i]);
}

void vbx__plugins_fini(void)
{
	vbx__plugins_stop();
	fini_first(nplugins);
}

void vbx__plugins_free(void)
{
	for (size_t i = 0; i < nplugins; i++)
		plugin_free(plugins[i]);
	free(plugins);
	plugins = NULL;
	nplugins = 0;
}

/* ---- reporting and reload ---- */

static void put_caps(FILE *f, const char *const *caps, int width)
{
	int n = 0;

	if (!caps || !*caps)
		n = fprintf(f, "-");
	for (; caps && *caps; caps++)
		n += fprintf(f, "%s%s", n ? "," : "", *caps);
	if (width > n)
		fprintf(f, "%*s", width - n, "");
}

static int caps_width(const char *const *caps)
{
	int n = 0;

	if (!caps || !*caps)
		return 1;
	for (; caps && *caps; caps++)
		n += (n ? 1 : 0) + (int)strlen(*caps);
	return n;
}

static const char *version_of(const vbx_plugin *p)
{
	return p->desc->version ? p->desc->version : "-";
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

void vbx__plugins_print_table(FILE *f)
{
	int wname = 4, wver = 7, wprov = 8;

	for (size_t i = 0; i < nplugins; i++) {
		const vbx_plugin *p = plugins[i];
		wname = max_int(wname, (int)strlen(p->name));
		wver = max_int(wver, (int)strlen(version_of(p)));
		wprov = max_int(wprov, caps_width(p->desc->provides));
	}
	fprintf(f, "%-*s  %-*s  %-*s  REQUIRES\n", wname, "NAME", wver,
	        "VERSION", wprov, "PROVIDES");
	for (size_t i = 0; i < nplugins; i++) {
		const vbx_plugin *p = plugins[i];
		fprintf(f, "%-*s  %-*s  ", wname, p->name, wver, version_of(p));
		put_caps(f, p->desc->provides, wprov + 2);
		put_caps(f, p->desc->requires, 0);
		fputc('\n', f);
	}
}

static const vbx__plugin_conf *conf_entry(const vbx__conf *conf,
                                          const char *name)
{
	for (size_t i = 0; i < conf->nplugins; i++)
		if (strcmp(conf->plugins[i].name, name) == 0)
			return &conf->plugins[i];
	return NULL;
}

int vbx__plugins_validate(vbx__conf *conf, vbx__errors *errs)
{
	int first = VBX_OK;

	for (size_t i = 0; i < nplugins; i++) {
		const vbx__plugin_conf *pc = conf_entry(conf, plugins[i]->name);
		int rc = VBX_EINVAL;
		if (pc)
			rc = vbx__plugin_validate(plugins[i], pc->block, errs);
		else
			vbx__errors_add(errs,
			                "%s: plugins: plugin \"%s\" is loaded "
			                "but not listed; restart vibeboxd to "
			                "remove it",
			                conf->path, plugins[i]->name);
		if (rc != VBX_OK && first == VBX_OK)
			first = rc;
	}
	return first;
}

void vbx__plugins_reconfigure(vbx__conf *conf)
{
	for (size_t i = 0; i < nplugins; i++) {
		const vbx__plugin_conf *pc = conf_entry(conf, plugins[i]->name);
		/* Workers read it through vbx_plugin_config() meanwhile. */
		if (pc)
			__atomic_store_n(&plugins[i]->cfg, pc->block,
			                 __ATOMIC_RELEASE);
	}
}

bool vbx__plugins_set_changed(const vbx__conf *conf)
{
	if (conf->nplugins != nplugins)
		return true;
	for (size_t i = 0; i < nplugins; i++) {
		const vbx_plugin *p = plugins[i];
		if ((size_t)p->order >= conf->nplugins ||
		    strcmp(conf->plugins[p->order].name, p->name) != 0)
			return true;
	}
	return false;
}
