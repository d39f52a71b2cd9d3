/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wc.h - the web-console plugin's parts: its settings, the snapshot of the
 * console's files it serves from, and the parsers of what a client sends
 * (Accept-Encoding, If-None-Match, the path). Not installed.
 */
#ifndef WC_H
#define WC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vibebox/vibebox.h>

/* ---- settings (config.c) ---- */

typedef struct wc_settings {
	char *root;         /* the built console's directory */
	char *index;        /* the app's page, relative to root */
	char *assets;       /* the directory of hashed (immutable) assets */
	char *api_origin;   /* NULL, or "https://api.example.com" */
	uint64_t cache_max; /* bytes of file contents kept in memory */
	int64_t recheck_ms; /* how old a snapshot may get before a rescan */
	char *csp;          /* the Content-Security-Policy header */
} wc_settings;

/* Read the plugin's block into *s (every key, so validate can use it
 * too). Returns VBX_OK, VBX_EINVAL (errors recorded on cfg) or VBX_ENOMEM;
 * *s is to be freed with wc_settings_free() in every case. */
int wc_settings_parse(const vbx_config *cfg, wc_settings *s);
void wc_settings_free(wc_settings *s);

/*
 * Check an api_origin: "http://" or "https://", then a host (letters,
 * digits, '.', '-', or an IPv6 address in brackets) and an optional
 * ":port", nothing after. Returns NULL when good, else a static reason.
 */
const char *wc_origin_check(const char *origin);

/* The Content-Security-Policy for api_origin (NULL: none), malloc'd;
 * NULL when out of memory. */
char *wc_csp_build(const char *api_origin);

/* ---- what a client sends (negotiate.c, webpath.c): pure functions ---- */

/* Content codings, as indexes and bits. */
enum { WC_IDENTITY = 0, WC_GZIP = 1, WC_BR = 2, WC_NENC = 3 };

/*
 * The coding to answer with, given the request's Accept-Encoding (NULL
 * when absent) and the codings the file has (bits 1 << WC_GZIP, 1 <<
 * WC_BR; identity is always there). q-values count: the highest wins,
 * br before gzip before identity on a tie; q=0 refuses a coding (named
 * twice, the lower weight stands), "*" speaks for the codings not named. An
 * element that does not parse is ignored; a header that refuses everything gets
 * identity (the file itself rather than a 406). Returns WC_IDENTITY, WC_GZIP or
 * WC_BR.
 */
int wc_pick_encoding(const char *accept, unsigned have);

/*
 * Does If-None-Match (header) match etag (a quoted strong tag,
 * "\"...\"")? "*" matches; otherwise each listed tag is compared weakly
 * (W/ ignored), as RFC 9110 wants for If-None-Match. A list that stops
 * parsing matches only through the tags before the damage.
 */
bool wc_inm_match(const char *header, const char *etag);

/* Is rel (a path relative to root, as the router gives it) one to look
 * up: non-empty, no leading or doubled "/", no "." or ".." segment, no
 * segment starting with "." (hidden files are never served), no control
 * character or backslash? */
bool wc_path_ok(const char *rel);

/* Is rel under the directory assets (a path relative to root) with a
 * content hash in its name: "-" then 8 or more of [0-9A-Za-z_-] then
 * "." ("assets/index-3f2a9c1b.js")? */
bool wc_is_hashed(const char *rel, const char *assets);

/* Is rel under the directory dir ("assets/x" is under "assets")? */
bool wc_under(const char *rel, const char *dir);

/* The Content-Type of a file name, by its extension (static). */
const char *wc_content_type(const char *name);

/* ---- the snapshot (scan.c) ---- */

/* A file's contents in memory, shared by the snapshots that see it
 * unchanged. */
typedef struct wc_buf {
	atomic_int refs;
	size_t len;
	char data[];
} wc_buf;

/* One representation of a file: the file itself, or its .gz or .br. */
typedef struct wc_rep {
	char *path;    /* absolute, for reading when not cached */
	wc_buf *buf;   /* NULL when not cached (over cache_max) */
	uint64_t size; /* st_size */
	dev_t dev;
	ino_t ino;
	int64_t mtime_ns;
	char etag[64]; /* "\"<size>-<mtime>[-gz|-br]\"" */
} wc_rep;

typedef struct wc_file {
	char *rel;        /* "assets/index-3f2a9c1b.js" */
	const char *type; /* Content-Type */
	bool immutable;   /* a hashed asset */
	char last_modified[40];
	unsigned have;       /* 1 << WC_GZIP, 1 << WC_BR */
	wc_rep rep[WC_NENC]; /* [WC_IDENTITY] always; the others per have */
} wc_file;

typedef struct wc_snap {
	wc_file *files; /* sorted by rel */
	size_t nfiles;
	uint64_t cached;   /* bytes in memory */
	bool root_ok;      /* root could be read */
	char problem[512]; /* when !root_ok, or a limit was hit: why */
} wc_snap;

/* Scan s->root into a new snapshot, reusing the contents prev holds for
 * files that have not changed (prev may be NULL). NULL when out of
 * memory. A root that cannot be read gives an empty snapshot with
 * root_ok false and problem set. */
wc_snap *wc_snap_build(const wc_settings *s, const wc_snap *prev);
void wc_snap_free(wc_snap *snap);

/* The file rel of snap, or NULL. */
const wc_file *wc_snap_find(const wc_snap *snap, const char *rel);

/* The contents of rep: its cached buffer, or read from disk into *owned
 * (which the caller frees). Returns VBX_OK, VBX_ENOTFOUND (gone since the
 * scan) or VBX_ERR. */
int wc_rep_body(const wc_rep *rep, const char **data, size_t *len,
                char **owned);

/* ---- the plugin's state (plugin.c) and the route (serve.c) ---- */

typedef struct wc {
	vbx_plugin *self;
	pthread_rwlock_t lock; /* guards set and snap */
	wc_settings set;
	wc_snap *snap;
	pthread_mutex_t scan;      /* one rescan at a time */
	atomic_llong next_scan_ms; /* when the snapshot is due a rescan */
	bool warned;               /* the missing root was logged */
} wc;

/* Rescan when due (or when force); never blocks a request behind
 * another's rescan. */
void wc_refresh(wc *w, bool force);

/* Register GET / and GET /{path...}. */
int wc_routes_register(wc *w);

int64_t wc_now_ms(void);

#endif
