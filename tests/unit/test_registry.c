/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_registry.c - the hook and event registry: order, policies,
 * defaults, the freeze, and the errors a mismatched plugin gets.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cJSON.h>

#include "core.h"

#ifndef VBX_HAVE_HOST
/* host.c is not linked: hooks only need the symbol for their head. */
const vbx_host vbx__host;
#endif

/* What the fake plugins reach through VBX__HOST(p). */
static const vbx_host test_host = {
        .hook_get = vbx__hook_get,
        .hook_register = vbx__hook_register,
        .event_get = vbx__event_get,
        .event_subscribe = vbx__event_subscribe,
};

/* The handlers append their id here, so a test sees who ran in what order. */
struct trace {
	int ids[32];
	int n;
};

/* A default that no handler returns, to tell the two apart. */
#define ALL_DEFAULT 77

/* The parameter lists are stringised into signatures that the tests
 * compare with; keep clang-format from respacing them. */
// clang-format off
VBX_HOOK_DECLARE(t_first, FIRST, VBX_ENOTFOUND, (struct trace *t), (t))
VBX_HOOK_DECLARE(t_all, ALL, ALL_DEFAULT, (struct trace *t), (t))
VBX_HOOK_DECLARE(t_provider, PROVIDER, VBX_EUNAVAIL, (struct trace *t), (t))
// clang-format on

typedef struct t_payload {
	uint32_t version;
	int n;
} t_payload;
static int t_render(const void *payload, char *buf, size_t len, char *rtype,
                    char *rid);
VBX_EVENT_DECLARE(t_event, t_payload, NULL)
VBX_EVENT_DECLARE(t_json_event, t_payload, t_render)

static int t_render(const void *payload, char *buf, size_t len, char *rtype,
                    char *rid)
{
	return VBX_OK;
}

static int t_render2(const void *payload, char *buf, size_t len, char *rtype,
                     char *rid)
{
	return VBX_ERR;
}

/* id: what the handler records; rc: what it answers. */
struct spec {
	int id;
	int rc;
};

static int record(void *ud, struct trace *t)
{
	const struct spec *s = ud;
	t->ids[t->n++] = s->id;
	return s->rc;
}

static char name_core[] = "core", name_alpha[] = "alpha", name_beta[] = "beta",
            name_gamma[] = "gamma";
static vbx_plugin core = {.head = {&test_host}, .name = name_core, .order = -1};
static vbx_plugin alpha = {
        .head = {&test_host}, .name = name_alpha, .order = 0};
static vbx_plugin beta = {.head = {&test_host}, .name = name_beta, .order = 1};
static vbx_plugin gamma_ = {
        .head = {&test_host}, .name = name_gamma, .order = 2};

static vbx__errors errs;

static int setup(void **state)
{
	memset(&errs, 0, sizeof(errs));
	vbx__registry_set_errors(&errs);
	return 0;
}

static int teardown(void **state)
{
	vbx__registry_fini();
	vbx__errors_clear(&errs);
	return 0;
}

static void assert_error(const char *expected)
{
	for (size_t i = 0; i < errs.count; i++)
		if (strcmp(errs.msgs[i], expected) == 0)
			return;
	vbx__errors_print(&errs, stderr);
	fail_msg("no error \"%s\" among %zu", expected, errs.count);
}

static void assert_trace(const struct trace *t, const int *ids, int n)
{
	assert_int_equal(t->n, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(t->ids[i], ids[i]);
}

/* ---- order ---- */

static void test_priority_order(void **state)
{
	struct spec s[] = {{1, VBX_OK},
	                   {2, VBX_OK},
	                   {3, VBX_OK},
	                   {4, VBX_OK},
	                   {5, VBX_OK}};
	int prios[] = {VBX_PRIO_LAST, VBX_PRIO_FIRST, VBX_PRIO_MIDDLE, 100, 0};
	for (int i = 0; i < 5; i++)
		assert_int_equal(vbx_hook_t_all_register(&alpha, record, &s[i],
		                                         prios[i]),
		                 VBX_OK);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_all_run(vbx_hook_t_all_get(&alpha), &t),
	                 ALL_DEFAULT);
	assert_trace(&t, (int[]){5, 2, 3, 1, 4}, 5);
}

static void test_ties_by_plugin_then_registration(void **state)
{
	struct spec s[8];
	for (int i = 0; i < 8; i++)
		s[i] = (struct spec){i, VBX_OK};
	/* Registered out of config order, and one plugin several times. */
	vbx_plugin *by[] = {&gamma_, &beta,  &alpha,  &beta,
	                    &core,   &alpha, &gamma_, &alpha};
	for (int i = 0; i < 8; i++)
		assert_int_equal(vbx_hook_t_all_register(by[i], record, &s[i],
		                                         VBX_PRIO_MIDDLE),
		                 VBX_OK);
	/* A lower priority still beats config order. */
	struct spec early = {99, VBX_OK};
	assert_int_equal(vbx_hook_t_all_register(&gamma_, record, &early, 49),
	                 VBX_OK);
	vbx__registry_freeze();

	struct trace t = {0};
	vbx_hook_t_all_run(vbx_hook_t_all_get(&core), &t);
	/* core (-1), then alpha in registration order, beta, gamma. */
	assert_trace(&t, (int[]){99, 4, 2, 5, 7, 1, 3, 0, 6}, 9);
}

/* ---- policies ---- */

static void test_first_decline_passes_on(void **state)
{
	struct spec s[] = {{1, VBX_DECLINED},
	                   {2, VBX_DECLINED},
	                   {3, VBX_EDENIED},
	                   {4, VBX_OK}};
	for (int i = 0; i < 4; i++)
		vbx_hook_t_first_register(&alpha, record, &s[i], 10 + i);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_first_run(vbx_hook_t_first_get(&beta), &t),
	                 VBX_EDENIED);
	assert_trace(&t, (int[]){1, 2, 3}, 3);
}

static void test_first_ok_answers(void **state)
{
	struct spec s[] = {{1, VBX_DECLINED}, {2, VBX_OK}, {3, VBX_EDENIED}};
	for (int i = 0; i < 3; i++)
		vbx_hook_t_first_register(&alpha, record, &s[i], 10 + i);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_first_run(vbx_hook_t_first_get(&beta), &t),
	                 VBX_OK);
	assert_trace(&t, (int[]){1, 2}, 2);
}

static void test_first_all_declining_gives_default(void **state)
{
	struct spec s[] = {{1, VBX_DECLINED}, {2, VBX_DECLINED}};
	vbx_hook_t_first_register(&alpha, record, &s[0], 10);
	vbx_hook_t_first_register(&beta, record, &s[1], 10);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_first_run(vbx_hook_t_first_get(&beta), &t),
	                 VBX_ENOTFOUND);
	assert_trace(&t, (int[]){1, 2}, 2);
}

static void test_all_veto_stops(void **state)
{
	struct spec s[] = {
	        {1, VBX_OK}, {2, VBX_DECLINED}, {3, VBX_EDENIED}, {4, VBX_OK}};
	for (int i = 0; i < 4; i++)
		vbx_hook_t_all_register(&alpha, record, &s[i], 10 + i);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_all_run(vbx_hook_t_all_get(&alpha), &t),
	                 VBX_EDENIED);
	assert_trace(&t, (int[]){1, 2, 3}, 3);
}

static void test_all_without_veto_gives_default(void **state)
{
	struct spec s[] = {{1, VBX_OK}, {2, VBX_DECLINED}, {3, VBX_OK}};
	for (int i = 0; i < 3; i++)
		vbx_hook_t_all_register(&alpha, record, &s[i], 10 + i);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_all_run(vbx_hook_t_all_get(&alpha), &t),
	                 ALL_DEFAULT);
	assert_trace(&t, (int[]){1, 2, 3}, 3);
}

static void test_defaults_without_handlers(void **state)
{
	vbx_hook *first = vbx_hook_t_first_get(&alpha);
	vbx_hook *all = vbx_hook_t_all_get(&alpha);
	vbx_hook *prov = vbx_hook_t_provider_get(&alpha);
	assert_non_null(first);
	assert_non_null(all);
	assert_non_null(prov);
	vbx__registry_freeze();

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_first_run(first, &t), VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_t_all_run(all, &t), ALL_DEFAULT);
	assert_int_equal(vbx_hook_t_provider_run(prov, &t), VBX_EUNAVAIL);
	assert_int_equal(t.n, 0);
}

static void test_runs_before_freeze_see_nothing(void **state)
{
	struct spec s = {1, VBX_OK};
	assert_int_equal(vbx_hook_t_first_register(&alpha, record, &s, 10),
	                 VBX_OK);
	vbx_hook *h = vbx_hook_t_first_get(&alpha);
	assert_int_equal(h->count, 0);
	assert_null(h->entries);

	struct trace t = {0};
	assert_int_equal(vbx_hook_t_first_run(h, &t), VBX_ENOTFOUND);
	assert_int_equal(t.n, 0);
	assert_false(vbx__registry_frozen());

	vbx__registry_freeze();
	assert_true(vbx__registry_frozen());
	assert_int_equal(h->count, 1);
	assert_int_equal(vbx_hook_t_first_run(h, &t), VBX_OK);
	assert_trace(&t, (int[]){1}, 1);
}

static void test_provider_second_refused(void **state)
{
	struct spec a = {1, 5}, b = {2, 6};
	assert_int_equal(vbx_hook_t_provider_register(&alpha, record, &a, 50),
	                 VBX_OK);
	assert_int_equal(vbx_hook_t_provider_register(&beta, record, &b, 10),
	                 VBX_EEXIST);
	assert_error("hook \"t_provider\" (PROVIDER) is provided by both "
	             "\"alpha\" and \"beta\"; enable only one of them");
	vbx__registry_freeze();

	struct trace t = {0};
	vbx_hook *h = vbx_hook_t_provider_get(&beta);
	assert_int_equal(h->count, 1);
	assert_int_equal(vbx_hook_t_provider_run(h, &t), 5);
	assert_trace(&t, (int[]){1}, 1);
}

/* ---- mismatches and refusals ---- */

static void test_signature_mismatch(void **state)
{
	struct spec s = {1, VBX_OK};
	assert_int_equal(vbx_hook_t_first_register(&alpha, record, &s, 10),
	                 VBX_OK);

	/* beta was built against another declaration of t_first. */
	assert_null(vbx__hook_get(&beta, "t_first", "int(const char *x)",
	                          VBX_POLICY_FIRST));
	assert_int_equal(errs.count, 1);
	assert_error(
	        "plugin \"beta\": hook \"t_first\" signature mismatch: it "
	        "uses \"int(const char *x)\" but plugin \"alpha\" declared "
	        "\"int(struct trace *t)\"; rebuild beta against this SDK");

	/* The handle is right but the registration carries another sig. */
	vbx_hook *h = vbx_hook_t_first_get(&gamma_);
	assert_int_equal(test_host.hook_register(&gamma_, h, "int(long)",
	                                         (vbx_fn)record, &s, 10),
	                 VBX_ESIGNATURE);
	assert_error("plugin \"gamma\": hook \"t_first\" signature mismatch: "
	             "it uses \"int(long)\" but plugin \"alpha\" declared "
	             "\"int(struct trace *t)\"; rebuild gamma against this "
	             "SDK");
	vbx__registry_freeze();
	assert_int_equal(h->count, 1);
}

/* ---- signatures compare as C types ---- */

/* The canonical form of text, or "(refused)". */
static char *canon(const char *text)
{
	char *out = NULL;
	int rc = vbx__sig_normalise(text, &out);
	if (rc != VBX_OK) {
		assert_int_equal(rc, VBX_EINVAL);
		assert_null(out);
		return strdup("(refused)");
	}
	return out;
}

static void assert_canon(const char *text, const char *expected)
{
	char *got = canon(text);
	if (strcmp(got, expected) != 0)
		fail_msg("\"%s\" gives \"%s\", expected \"%s\"", text, got,
		         expected);
	free(got);
}

static void test_sig_canonical_form(void **state)
{
	assert_canon("int(const char *who, char *out, size_t len)",
	             "int(char const *, char *, size_t)");
	assert_canon("int(const vbx_principal* principal)",
	             "int(const vbx_principal *)");
	assert_canon("int(vbx_user * u)", "int(vbx_user *)");
	assert_canon("int(int (*cb)(void *ud, int n), char out[N + 1])",
	             "int(int(*)(void *, int), char[N+1])");
	assert_canon("int(char const*const* list, ...)",
	             "int(char const *const *, ...)");
	assert_canon("int(struct  trace\t*t)", "int(struct trace *)");
	assert_canon("int(unsigned long n, long double d)",
	             "int(long unsigned, double long)");
	assert_canon("int(int * volatile const p)", "int(int *const volatile)");
	assert_canon("int(int a[3][4])", "int(int[3][4])");
	assert_canon("int(void)", "int(void)");
	assert_canon("int()", "int()");
	assert_canon("t_payload", "t_payload");
	assert_canon("struct   t_payload", "struct t_payload");
}

/* Text the normaliser refuses: it never crashes, never half-answers. */
static void test_sig_broken_input(void **state)
{
	static const char *const broken[] = {
	        "",
	        "   ",
	        "int(",
	        "int(int",
	        "int)",
	        "int(int,)",
	        "int(,int)",
	        "int(struct)",
	        "int(struct *p)",
	        "int(const)",
	        "int(a b c)",
	        "int(x;y)",
	        "int(int x = 3)",
	        "int(char *s) trailing words",
	        "int(int a[)",
	        "int(int a[[1]])",
	        "int(int (*)(void)",
	        "int(\"text\")",
	        "int(int x) {",
	        "int(caf\xc3\xa9 x)",
	        "int(int const const x, int int)  *)",
	        "(int)",
	        "*",
	        "...",
	        "int(..)",
	        "int(int x, ..., int y)",
	        "int(con3t char *who)",
	        "int(foo struct bar x)",
	        "int(3x y)",
	        "int(int 3y)",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(*broken); i++)
		assert_canon(broken[i], "(refused)");

	/* Too deep, too long, too many specifiers, NULL. */
	char deep[200] = "int(int ";
	for (int i = 0; i < 40; i++)
		strcat(deep, "(");
	strcat(deep, "*x");
	for (int i = 0; i < 40; i++)
		strcat(deep, ")");
	strcat(deep, ")");
	assert_canon(deep, "(refused)");
	char *longer = malloc(5000);
	assert_non_null(longer);
	memset(longer, 'a', 4999);
	longer[4999] = '\0';
	assert_canon(longer, "(refused)");
	longer[4096] = '\0'; /* a 4096-byte name is still a typedef-name */
	assert_canon(longer, longer);
	free(longer);
	assert_canon("int(const const const const const const const const "
	             "const const const const const const const const int x)",
	             "(refused)");
	char *out = (char *)"untouched";
	assert_int_equal(vbx__sig_normalise(NULL, &out), VBX_EINVAL);
	assert_null(out);
}

/* The hook h declared by alpha with sig; then beta with other. */
static int declare_then(const char *sig, const char *other)
{
	struct spec s = {1, VBX_OK};
	vbx_hook *h = vbx__hook_get(&alpha, "t_sig", sig, VBX_POLICY_ALL);
	assert_non_null(h);
	return vbx__hook_register(&beta, h, other, (vbx_fn)record, &s, 10);
}

static void test_sig_names_differ_accepted(void **state)
{
	assert_int_equal(declare_then("int(const vbx_principal *who)",
	                              "int(const vbx_principal* principal)"),
	                 VBX_OK);
	assert_non_null(vbx__hook_get(&gamma_, "t_sig",
	                              "int(const vbx_principal *)",
	                              VBX_POLICY_ALL));
	assert_int_equal(errs.count, 0);
}

static void test_sig_spacing_differs_accepted(void **state)
{
	assert_int_equal(declare_then("int(int(*cb)(void),char*out)",
	                              "int( int ( * callback ) ( void ) , "
	                              "char * buffer )"),
	                 VBX_OK);
	assert_int_equal(errs.count, 0);
}

/* Each pair differs in type; the error names both plugins and both
 * signatures as they were written. */
static void test_sig_type_differs_refused(void **state)
{
	static const char *const pairs[][2] = {
	        {"int(int n)", "int(long n)"},
	        {"int(const char *s)", "int(char *s)"},
	        {"int(char *s)", "int(char **s)"},
	        {"int(char *const s)", "int(char *s)"},
	        {"int(int (*cb)(void))", "int(int (*cb)(int))"},
	        {"int(char out[64])", "int(char out[65])"},
	        {"int(int a, int b)", "int(int a)"},
	        {"int(struct a *p)", "int(union a *p)"},
	        {"int(foo x)", "int(bar x)"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++) {
		vbx__registry_fini();
		vbx__errors_clear(&errs);
		vbx__registry_set_errors(&errs);
		assert_int_equal(declare_then(pairs[i][0], pairs[i][1]),
		                 VBX_ESIGNATURE);
		char expected[512];
		snprintf(expected, sizeof(expected),
		         "plugin \"beta\": hook \"t_sig\" signature mismatch: "
		         "it uses \"%s\" but plugin \"alpha\" declared "
		         "\"%s\"; rebuild beta against this SDK",
		         pairs[i][1], pairs[i][0]);
		assert_error(expected);
		assert_int_equal(errs.count, 1);
	}
}

/* A signature the normaliser cannot read matches its own text only. */
static void test_sig_unreadable_compares_as_text(void **state)
{
	assert_int_equal(declare_then("int(x;y)", "int(x;y)"), VBX_OK);
	assert_null(
	        vbx__hook_get(&gamma_, "t_sig", "int(x; y)", VBX_POLICY_ALL));
	assert_int_equal(errs.count, 1);
	assert_null(vbx__hook_get(&gamma_, "t_sig", "int(x)", VBX_POLICY_ALL));
	assert_int_equal(errs.count, 2);
}

static void test_event_type_compares_as_type(void **state)
{
	vbx_event *e = vbx__event_get(&alpha, "t_ev", "struct t_payload",
	                              sizeof(t_payload), NULL);
	assert_non_null(e);
	assert_ptr_equal(vbx__event_get(&beta, "t_ev", "struct  t_payload",
	                                sizeof(t_payload), NULL),
	                 e);
	assert_int_equal(vbx__event_subscribe(&beta, e, "struct\tt_payload",
	                                      (vbx_fn)record, NULL),
	                 VBX_OK);
	assert_null(vbx__event_get(&gamma_, "t_ev", "union t_payload",
	                           sizeof(t_payload), NULL));
	assert_error("plugin \"gamma\": event \"t_ev\" payload mismatch: "
	             "it uses \"union t_payload\" (8 bytes) but plugin "
	             "\"alpha\" declared \"struct t_payload\" (8 bytes); "
	             "rebuild gamma against this SDK");
}

static void test_policy_mismatch(void **state)
{
	assert_non_null(vbx_hook_t_first_get(&core));
	assert_null(vbx__hook_get(&beta, "t_first", "int(struct trace *t)",
	                          VBX_POLICY_ALL));
	assert_error(
	        "plugin \"beta\": hook \"t_first\" policy mismatch: it "
	        "uses ALL but plugin \"core\" declared FIRST; rebuild beta "
	        "against this SDK");
	assert_null(vbx__hook_get(&beta, "t_first", "int(struct trace *t)",
	                          VBX_POLICY_PROVIDER));
	assert_int_equal(errs.count, 2);
}

static void test_register_after_freeze_refused(void **state)
{
	struct spec s = {1, VBX_OK};
	vbx__registry_freeze();
	assert_int_equal(vbx_hook_t_first_register(&alpha, record, &s, 10),
	                 VBX_ESTATE);
	assert_error("plugin \"alpha\": hook \"t_first\": registration is "
	             "closed once the plugins are initialised; register in "
	             "init");

	/* Lookups still work, also for a hook nobody declared before. */
	vbx_hook *h = vbx_hook_t_first_get(&beta);
	assert_non_null(h);
	assert_ptr_equal(h, vbx_hook_t_first_get(&alpha));
	assert_int_equal(h->count, 0);
	struct trace t = {0};
	assert_int_equal(vbx_hook_t_first_run(h, &t), VBX_ENOTFOUND);

	/* A second freeze changes nothing. */
	vbx__registry_freeze();
	assert_int_equal(h->count, 0);
}

static void test_bad_arguments(void **state)
{
	struct spec s = {1, VBX_OK};
	assert_int_equal(vbx_hook_t_first_register(&alpha, record, &s, -1),
	                 VBX_EINVAL);
	assert_error("plugin \"alpha\": hook \"t_first\": priority -1 is out "
	             "of range 0..100");
	assert_int_equal(vbx_hook_t_first_register(&alpha, record, &s, 101),
	                 VBX_EINVAL);
	assert_int_equal(vbx_hook_t_first_register(&alpha, NULL, &s, 10),
	                 VBX_EINVAL);
	assert_int_equal(vbx__hook_register(&alpha, NULL, "int(void)",
	                                    (vbx_fn)record, &s, 10),
	                 VBX_EINVAL);

	const char *bad_names[] = {NULL,       "",       "9lives",
	                           "has-dash", "sp ace", "dot.ted"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++)
		assert_null(vbx__hook_get(&alpha, bad_names[i], "int(void)",
		                          VBX_POLICY_FIRST));
	assert_error("plugin \"alpha\": hook \"has-dash\": invalid declaration "
	             "(the name must be a C identifier, the policy FIRST, ALL "
	             "or PROVIDER); declare hooks with VBX_HOOK_DECLARE");
	assert_null(vbx__hook_get(&alpha, "ok_name", NULL, VBX_POLICY_FIRST));
	assert_null(vbx__hook_get(&alpha, "ok_name", "int(void)", 0));
	assert_null(vbx__hook_get(&alpha, "ok_name", "int(void)", 4));
	assert_non_null(vbx__hook_get(&alpha, "_ok_Name9", "int(void)",
	                              VBX_POLICY_ALL));

	assert_null(vbx__event_get(&alpha, "big", "big_t",
	                           VBX_EVENT_MAX_PAYLOAD + 1, NULL));
	assert_null(vbx__event_get(&alpha, "empty", "empty_t", 0, NULL));
	assert_null(vbx__event_get(&alpha, "a-b", "t_payload", 8, NULL));
	assert_int_equal(
	        vbx__event_subscribe(&alpha, NULL, "t", (vbx_fn)record, NULL),
	        VBX_EINVAL);
	vbx__registry_freeze();
	/* None of it left a handler behind. */
	assert_int_equal(vbx_hook_t_first_get(&alpha)->count, 0);
}

static void test_same_name_same_handle(void **state)
{
	vbx_hook *a = vbx_hook_t_first_get(&alpha);
	assert_ptr_equal(a, vbx_hook_t_first_get(&beta));
	assert_ptr_not_equal(a, vbx_hook_t_all_get(&alpha));
	assert_ptr_equal(a->host, &vbx__host);

	/* Many names: the table's chains hold them all apart. */
	char name[32];
	vbx_hook *hs[200];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		hs[i] = vbx__hook_get(&alpha, name, "int(void)",
		                      VBX_POLICY_FIRST);
		assert_non_null(hs[i]);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		assert_ptr_equal(hs[i], vbx__hook_get(&beta, name, "int(void)",
		                                      VBX_POLICY_FIRST));
	}
	assert_int_equal(errs.count, 0);
}

/* ---- events in the registry ---- */

static int order_log[8], norder;

static void sub_a(void *ud, const t_payload *p)
{
	order_log[norder++] = p->n * 10 + (int)(intptr_t)ud;
}

static void test_event_registry(void **state)
{
	vbx_event *e = vbx_event_t_event_get(&alpha);
	assert_non_null(e);
	assert_ptr_equal(e->host, &vbx__host);
	assert_ptr_equal(e, vbx_event_t_event_get(&beta));
	assert_string_equal(vbx__event_name(e), "t_event");
	assert_int_equal(vbx__event_payload_size(e), sizeof(t_payload));
	assert_null(vbx__event_to_json(e));
	assert_int_equal(vbx__registry_max_payload(), sizeof(t_payload));

	/* A later declaration with a renderer supplies one; the first wins. */
	assert_ptr_equal(vbx__event_get(&beta, "t_event", "t_payload",
	                                sizeof(t_payload), t_render),
	                 e);
	assert_ptr_equal(vbx__event_to_json(e), t_render);
	assert_ptr_equal(vbx__event_get(&gamma_, "t_event", "t_payload",
	                                sizeof(t_payload), t_render2),
	                 e);
	assert_ptr_equal(vbx__event_to_json(e), t_render);
	assert_ptr_equal(vbx__event_to_json(vbx_event_t_json_event_get(&core)),
	                 t_render);

	assert_null(vbx__event_get(&gamma_, "t_event", "other_t",
	                           sizeof(t_payload), NULL));
	assert_error("plugin \"gamma\": event \"t_event\" payload mismatch: "
	             "it uses \"other_t\" (8 bytes) but plugin \"alpha\" "
	             "declared \"t_payload\" (8 bytes); rebuild gamma against "
	             "this SDK");
	assert_null(vbx__event_get(&gamma_, "t_event", "t_payload", 12, NULL));
	assert_error("plugin \"gamma\": event \"t_event\" payload mismatch: "
	             "it uses \"t_payload\" (12 bytes) but plugin \"alpha\" "
	             "declared \"t_payload\" (8 bytes); rebuild gamma against "
	             "this SDK");
	assert_int_equal(vbx__event_subscribe(&gamma_, e, "other_t",
	                                      (vbx_fn)sub_a, NULL),
	                 VBX_ESIGNATURE);
	assert_non_null(vbx__event_get(&gamma_, "t_big", "big_t", 600, NULL));
	assert_int_equal(vbx__registry_max_payload(), 600);
}

static void test_event_subscribers_in_order(void **state)
{
	vbx_event *e = vbx_event_t_event_get(&alpha);
	norder = 0;
	assert_int_equal(vbx_event_t_event_subscribe(&gamma_, sub_a,
	                                             (void *)(intptr_t)1),
	                 VBX_OK);
	assert_int_equal(
	        vbx_event_t_event_subscribe(&alpha, sub_a, (void *)(intptr_t)2),
	        VBX_OK);
	t_payload p = {1, 4};
	vbx__event_deliver(e, &p); /* not frozen yet: nobody */
	assert_int_equal(norder, 0);

	vbx__registry_freeze();
	vbx__event_deliver(e, &p);
	assert_int_equal(norder, 2);
	assert_int_equal(order_log[0], 41);
	assert_int_equal(order_log[1], 42);

	assert_int_equal(vbx_event_t_event_subscribe(&beta, sub_a, NULL),
	                 VBX_ESTATE);
	assert_error("plugin \"beta\": event \"t_event\": subscriptions are "
	             "closed once the plugins are initialised; subscribe in "
	             "init");
}

/* ---- introspection and teardown ---- */

static void test_plugin_json(void **state)
{
	struct spec s = {1, VBX_OK};
	vbx_hook_t_first_register(&alpha, record, &s, VBX_PRIO_FIRST);
	vbx_hook_t_all_register(&beta, record, &s, VBX_PRIO_LAST);
	vbx_hook_t_all_register(&alpha, record, &s, 42);
	vbx_hook_t_provider_register(&alpha, record, &s, VBX_PRIO_MIDDLE);
	vbx_event_t_event_subscribe(&alpha, sub_a, NULL);
	vbx_event_t_event_subscribe(&alpha, sub_a, NULL);
	vbx_event_t_json_event_subscribe(&beta, sub_a, NULL);
	vbx__registry_freeze();

	cJSON *j = vbx__registry_plugin_json(&alpha);
	char *text = cJSON_PrintUnformatted(j);
	assert_string_equal(
	        text,
	        "{\"hooks\":[{\"name\":\"t_first\",\"policy\":\"FIRST\","
	        "\"priority\":10},{\"name\":\"t_all\",\"policy\":\"ALL\","
	        "\"priority\":42},{\"name\":\"t_provider\",\"policy\":"
	        "\"PROVIDER\",\"priority\":50}],\"events\":[\"t_event\"]}");
	free(text);
	cJSON_Delete(j);

	j = vbx__registry_plugin_json(&gamma_);
	text = cJSON_PrintUnformatted(j);
	assert_string_equal(text, "{\"hooks\":[],\"events\":[]}");
	free(text);
	cJSON_Delete(j);
}

static void test_fini_forgets_everything(void **state)
{
	struct spec s = {1, VBX_OK};
	vbx_hook_t_provider_register(&alpha, record, &s, 10);
	vbx__registry_freeze();
	vbx__registry_fini();
	assert_false(vbx__registry_frozen());
	assert_int_equal(vbx__registry_max_payload(), 0);

	/* A new life: beta may now provide it, even with another signature. */
	vbx__registry_set_errors(&errs);
	assert_non_null(vbx__hook_get(&beta, "t_provider", "int(void)",
	                              VBX_POLICY_PROVIDER));
	assert_int_equal(errs.count, 0);
}

int main(void)
{
	vbx__log_configure(VBX_LOG_ERROR, false);
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	        T(test_priority_order),
	        T(test_ties_by_plugin_then_registration),
	        T(test_first_decline_passes_on),
	        T(test_first_ok_answers),
	        T(test_first_all_declining_gives_default),
	        T(test_all_veto_stops),
	        T(test_all_without_veto_gives_default),
	        T(test_defaults_without_handlers),
	        T(test_runs_before_freeze_see_nothing),
	        T(test_provider_second_refused),
	        T(test_signature_mismatch),
	        T(test_sig_canonical_form),
	        T(test_sig_broken_input),
	        T(test_sig_names_differ_accepted),
	        T(test_sig_spacing_differs_accepted),
	        T(test_sig_type_differs_refused),
	        T(test_sig_unreadable_compares_as_text),
	        T(test_event_type_compares_as_type),
	        T(test_policy_mismatch),
	        T(test_register_after_freeze_refused),
	        T(test_bad_arguments),
	        T(test_same_name_same_handle),
	        T(test_event_registry),
	        T(test_event_subscribers_in_order),
	        T(test_plugin_json),
	        T(test_fini_forgets_everything),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
