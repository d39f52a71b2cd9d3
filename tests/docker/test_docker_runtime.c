/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_runtime.c - the docker-runtime plugin's base: the pure
 * parsers (RFC 3339 times, endpoints, the engine's JSON, pull streams),
 * its configuration errors, and its container handlers against the real
 * engine (create, start, inspect, ports, stats, stop, restart, remove),
 * checked from outside with `docker inspect`.
 *
 * The plugin is loaded into the fake daemon (libvibebox-test) next to a
 * fake "store" that registers nothing, and never started: the handlers
 * are called directly through dkr_self, and the watcher stays off so it
 * cannot touch other tests' containers.
 *
 * The engine part is skipped (exit 77) when `tests/docker/docker.sh check`
 * fails. Every container and network it makes is named vbx-dkrtest-<pid>-*
 * and removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vibebox/testing.h>

#include "docker.h"

#define IMAGE "vibebox/test:latest"
#define CMD_IMAGE "vibebox/test-cmd:latest" /* CMD ["/bin/sh"] */
#define CONF_OK                                                                \
	"images = [ \"vibebox/test:*\", \"vibebox/test-cmd:*\", "              \
	"\"vibebox/does-not-exist:*\" ]; "                                     \
	"pull_timeout = \"60s\"; request_timeout = \"30s\";"

static vbx_test_host *host;

/* ---- a store that provides the capability and nothing else ---- */

static int store_init(vbx_plugin *self, const vbx_config *cfg)
{
	return VBX_OK;
}

static void store_fini(vbx_plugin *self)
{
}

static const char *const store_provides[] = {"store", NULL};
static const vbx_plugin_desc store_desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "empty-store",
        .version = "0",
        .description = "provides \"store\" for the docker-runtime tests",
        .provides = store_provides,
        .init = store_init,
        .fini = store_fini,
};

static int load(const char *conf)
{
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_test_load(host, &store_desc, NULL), VBX_OK);
	return vbx_test_load(host, vbx_plugin_entry(), conf);
}

static int unload(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

/* ---- RFC 3339 ---- */

static void test_time_good(void **state)
{
	int64_t ms = -1;
	assert_int_equal(dkr_time_parse("1970-01-01T00:00:00Z", &ms), VBX_OK);
	assert_int_equal(ms, 0);
	assert_int_equal(dkr_time_parse("2024-05-01T10:00:00.123456789Z", &ms),
	                 VBX_OK);
	assert_int_equal(ms, 1714557600123LL);
	assert_int_equal(dkr_time_parse("2024-05-01T12:00:00.5+02:00", &ms),
	                 VBX_OK);
	assert_int_equal(ms, 1714557600500LL);
	assert_int_equal(dkr_time_parse("2024-05-01T09:30:00-00:30", &ms),
	                 VBX_OK);
	assert_int_equal(ms, 1714557600000LL);
	assert_int_equal(dkr_time_parse("2024-02-29T00:00:00z", &ms), VBX_OK);
	assert_int_equal(ms, 1709164800000LL);
	/* Docker's "never" */
	ms = -1;
	assert_int_equal(dkr_time_parse("0001-01-01T00:00:00Z", &ms), VBX_OK);
	assert_int_equal(ms, 0);
	/* Year 0 is RFC 3339's too (Docker never sends it): also never. */
	ms = -1;
	assert_int_equal(dkr_time_parse("0000-01-01T00:00:00Z", &ms), VBX_OK);
	assert_int_equal(ms, 0);
	assert_int_equal(dkr_time_parse("9999-12-31T23:59:59.999Z", &ms),
	                 VBX_OK);
	assert_int_equal(ms, 253402300799999LL);
}

static void test_time_broken(void **state)
{
	static const char *const bad[] = {
	        "",
	        "2024",
	        "2024-05-01",
	        "2024-05-01 10:00:00Z",
	        "2024-05-01T10:00:00", /* no zone */
	        "2024-05-01T10:00:00Zjunk",
	        "2024-13-01T10:00:00Z",
	        "2024-00-01T10:00:00Z",
	        "2023-02-29T10:00:00Z", /* not a leap year */
	        "2024-04-31T10:00:00Z",
	        "2024-05-01T24:00:00Z",
	        "2024-05-01T10:60:00Z",
	        "2024-05-01T10:00:61Z",
	        "2024-05-01T10:00:00.Z",           /* empty fraction */
	        "2024-05-01T10:00:00.1234567890Z", /* past nanoseconds */
	        "2024-05-01T10:00:00+2:00",
	        "2024-05-01T10:00:00+24:00",
	        "2024-05-01T10:00:00+02:60",
	        "2024-05-01T10:00:00+0200",
	        "-001-01-01T00:00:00Z",
	        "2024-05-0aT10:00:00Z",
	        "２024-05-01T10:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int64_t ms = 42;
		if (dkr_time_parse(bad[i], &ms) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ms, 42);
	}
	int64_t ms;
	assert_int_equal(dkr_time_parse(NULL, &ms), VBX_EINVAL);
}

/* ---- endpoints ---- */

static void expect_endpoint(const char *ep, bool tls, const char *path,
                            const char *url)
{
	char *p = NULL, *u = NULL, err[256] = "";
	if (dkr_endpoint_parse(ep, tls, &p, &u, err, sizeof(err)) != VBX_OK)
		fail_msg("refused %s: %s", ep, err);
	if (path)
		assert_string_equal(p, path);
	else
		assert_null(p);
	assert_string_equal(u, url);
	free(p);
	free(u);
}

static void test_endpoint_good(void **state)
{
	expect_endpoint("unix:///var/run/docker.sock", false,
	                "/var/run/docker.sock", "http://localhost");
	expect_endpoint("tcp://127.0.0.1:2375", false, NULL,
	                "http://127.0.0.1:2375");
	expect_endpoint("tcp://docker.example.com", false, NULL,
	                "http://docker.example.com:2375");
	expect_endpoint("tcp://docker.example.com", true, NULL,
	                "https://docker.example.com:2376");
	expect_endpoint("tcp://[::1]:2376/", true, NULL, "https://[::1]:2376");
}

static void test_endpoint_broken(void **state)
{
	static const struct {
		const char *ep;
		bool tls;
	} bad[] = {
	        {"", false},
	        {"/var/run/docker.sock", false},
	        {"unix://", false},
	        {"unix://var/run/docker.sock", false},
	        {"unix:///var/run/docker.sock", true}, /* TLS over a socket */
	        {"unix:///tmp/a\nb", false},
	        {"unix:///" /* longer than sun_path */
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	         "a",
	         false},
	        {"http://127.0.0.1:2375", false},
	        {"tcp://", false},
	        {"tcp://:2375", false},
	        {"tcp://host:", false},
	        {"tcp://host:0", false},
	        {"tcp://host:65536", false},
	        {"tcp://host:123456", false},
	        {"tcp://host:23x", false},
	        {"tcp://host:2375/path", false},
	        {"tcp://user@host:2375", false},
	        {"tcp://host name:2375", false},
	        {"tcp://[::1", false},
	        {"tcp://[]:2375", false},
	        {"tcp://[::1]x", false},
	        {"tcp://host:2375?x=1", false},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *p = (char *)1, *u = (char *)1, err[256] = "";
		if (dkr_endpoint_parse(bad[i].ep, bad[i].tls, &p, &u, err,
		                       sizeof(err)) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i].ep);
		assert_null(p);
		assert_null(u);
		assert_true(err[0] != '\0');
	}
}

/* ---- configuration ---- */

static void test_config_defaults(void **state)
{
	assert_int_equal(load(NULL), VBX_OK);
	dkr *d = dkr_self;
	assert_non_null(d);
	assert_string_equal(d->conf.endpoint, "unix:///var/run/docker.sock");
	assert_string_equal(d->unix_path, "/var/run/docker.sock");
	assert_string_equal(d->conf.publish_address, "127.0.0.1");
	assert_int_equal(d->conf.n_images, 3);
	assert_string_equal(d->conf.images[2], "vibebox/*");
	assert_int_equal(d->conf.n_shell, 1);
	assert_string_equal(d->conf.shell[0], "/bin/sh");
	assert_int_equal(d->conf.n_keep_command, 0);
	assert_string_equal(d->conf.user, "");
	assert_false(d->conf.read_only);
	assert_int_equal(d->conf.pids_limit, 512);
	assert_int_equal(d->conf.request_ms, 30000);
	assert_int_equal(d->conf.pull_ms, 600000);
	assert_null(d->conf.tls_ca);
}

static void test_config_values(void **state)
{
	assert_int_equal(
	        load("endpoint = \"tcp://10.0.0.5:2375\"; publish_address = "
	             "\"::1\"; images = [\"alpine:3\"]; shell = "
	             "[\"/bin/zsh\"]; "
	             "user = \"1000:1000\"; read_only = true; pids_limit = 64; "
	             "request_timeout = \"2s\"; pull_timeout = \"1m\"; "
	             "keep_command = [\"postgres:*\", \"myorg/svc-*\"];"),
	        VBX_OK);
	dkr *d = dkr_self;
	assert_int_equal(d->conf.n_keep_command, 2);
	assert_true(dkr_image_match(d->conf.keep_command,
	                            d->conf.n_keep_command, "postgres:16"));
	assert_true(dkr_image_match(d->conf.keep_command,
	                            d->conf.n_keep_command, "myorg/svc-a"));
	assert_false(dkr_image_match(d->conf.keep_command,
	                             d->conf.n_keep_command, "debian:12"));
	assert_string_equal(d->base_url, "http://10.0.0.5:2375");
	assert_null(d->unix_path);
	assert_string_equal(d->conf.publish_address, "::1");
	assert_int_equal(d->conf.n_images, 1);
	assert_true(dkr_image_allowed(&d->conf, "alpine:3"));
	assert_false(dkr_image_allowed(&d->conf, "debian:12"));
	assert_string_equal(d->conf.user, "1000:1000");
	assert_true(d->conf.read_only);
	assert_int_equal(d->conf.pids_limit, 64);
	assert_int_equal(d->conf.request_ms, 2000);
	assert_int_equal(d->conf.pull_ms, 60000);
}

/* The shipped config spells the default out: keep_command = [ ]. */
static void test_config_empty_list(void **state)
{
	assert_int_equal(load("keep_command = [ ];"), VBX_OK);
	assert_int_equal(dkr_self->conf.n_keep_command, 0);
	assert_int_equal(dkr_self->conf.n_images, 3);
}

static void test_config_broken(void **state)
{
	static const struct {
		const char *block, *key;
	} bad[] = {
	        {"endpoint = \"http://x\";", "endpoint"},
	        {"endpoint = \"unix://relative\";", "endpoint"},
	        {"endpoint = \"tcp://h:99999\";", "endpoint"},
	        {"endpoint = 5;", "endpoint"},
	        {"tls_ca_file = \"/nonexistent/ca.pem\";", "tls_ca_file"},
	        {"tls_cert_file = \"/etc/hostname\"; endpoint = "
	         "\"tcp://h:2376\";",
	         "tls_key_file"},
	        {"tls_ca_file = \"/etc/hostname\";", "endpoint"},
	        {"publish_address = \"localhost\";", "publish_address"},
	        {"publish_address = \"127.0.0.1:80\";", "publish_address"},
	        {"images = [\"\"];", "images"},
	        {"images = [\"debian *\"];", "images"},
	        {"images = 3;", "images"},
	        {"shell = [\"bash\"];", "shell"},
	        {"user = \"a b\";", "user"},
	        {"user = \"-1\";", "user"},
	        {"read_only = \"yes\";", "read_only"},
	        {"pids_limit = 0;", "pids_limit"},
	        {"pids_limit = 99999999;", "pids_limit"},
	        /* the lifecycle policy's keys moved to the platform */
	        {"reconcile_interval = \"30s\";",
	         "reconcile_interval: moved to "
	         "plugins.platform.environments.reconcile_interval"},
	        {"idle_timeout = 0;",
	         "idle_timeout: moved to "
	         "plugins.platform.environments.idle_timeout"},
	        {"idle_timeout = \"soon\";", "idle_timeout"},
	        {"request_timeout = \"-1s\";", "request_timeout"},
	        {"pull_timeout = \"100d\";", "pull_timeout"},
	        {"imagez = [\"x\"];", "imagez"},
	        {"keep_command = [\"\"];", "keep_command"},
	        {"keep_command = [\"postgres *\"];", "keep_command"},
	        {"keep_command = [1];", "keep_command"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char want[128];
		snprintf(want, sizeof(want), "plugins.docker-runtime.%s",
		         bad[i].key);
		int rc = load(bad[i].block);
		const char *errs = vbx_test_errors(host);
		if (rc == VBX_OK || !strstr(errs, want))
			fail_msg("%s: rc %d, errors: %s (wanted %s)",
			         bad[i].block, rc, errs, want);
		unload(NULL);
	}
}

/* ---- images ---- */

static void test_allow_list(void **state)
{
	static const char *const pats[] = {"debian:*", "vibebox/*", "alpine"};
	dkr_conf c = {.images = pats, .n_images = 3};
	assert_true(dkr_image_allowed(&c, "debian:12"));
	assert_true(dkr_image_allowed(&c, "debian")); /* debian:latest */
	assert_true(dkr_image_allowed(&c, "vibebox/test:latest"));
	assert_true(dkr_image_allowed(&c, "alpine"));
	assert_false(dkr_image_allowed(&c, "alpine:3"));
	assert_false(dkr_image_allowed(&c, "ubuntu:22.04"));
	assert_false(dkr_image_allowed(&c, "evil/debian:12"));
	assert_false(dkr_image_allowed(&c, "docker.io/library/debian:12"));
	c.n_images = 0;
	assert_false(dkr_image_allowed(&c, "debian:12"));
}

/* runtime_image_check: the same list, and a reason naming the setting
 * and what it allows, cut short to fit. */
static void test_image_check(void **state)
{
	static const char *const pats[] = {"debian:*", "vibebox/*", "alpine"};
	dkr d = {.conf = {.images = pats, .n_images = 3}};
	char why[256] = "x", small[80];
	assert_int_equal(dkr_image_check(&d, "debian:12", why, sizeof(why)),
	                 VBX_OK);
	assert_string_equal(why, "");
	assert_int_equal(dkr_image_check(&d, "busybox:1", why, sizeof(why)),
	                 VBX_EDENIED);
	assert_string_equal(why, "image busybox:1 is not allowed by "
	                         "plugins.docker-runtime.images; allowed: "
	                         "debian:*, vibebox/*, alpine");
	assert_int_equal(dkr_image_check(&d, "busybox:1", small, sizeof(small)),
	                 VBX_EDENIED);
	assert_non_null(strstr(small, "plugins.docker-runtime.images"));
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(dkr_image_check(&d, "../x", why, sizeof(why)),
	                 VBX_EINVAL);
	assert_int_equal(dkr_image_check(&d, "busybox", NULL, 0), VBX_EDENIED);
	d.conf.n_images = 0;
	assert_int_equal(dkr_image_check(&d, "debian:12", why, sizeof(why)),
	                 VBX_EDENIED);
	assert_non_null(strstr(why, "allowed: none"));
}

static void test_pull_error(void **state)
{
	char msg[128];
	const char ok[] = "{\"status\":\"Pulling from x\"}\r\n"
	                  "{\"status\":\"Digest: sha256:00\"}\n";
	assert_false(dkr_pull_error(ok, strlen(ok), msg, sizeof(msg)));
	const char bad[] =
	        "{\"status\":\"Pulling\"} {\"errorDetail\":{\"message\":"
	        "\"manifest unknown\"},\"error\":\"manifest unknown\"}\n";
	assert_true(dkr_pull_error(bad, strlen(bad), msg, sizeof(msg)));
	assert_string_equal(msg, "manifest unknown");
	const char detail[] = "{\"errorDetail\":{\"message\":\"denied\"}}";
	assert_true(dkr_pull_error(detail, strlen(detail), msg, sizeof(msg)));
	assert_string_equal(msg, "denied");
	const char trunc[] = "{\"status\":\"x\"}{\"error\":";
	assert_false(dkr_pull_error(trunc, strlen(trunc), msg, sizeof(msg)));
	assert_false(dkr_pull_error("", 0, msg, sizeof(msg)));
	assert_false(dkr_pull_error("garbage", 7, msg, sizeof(msg)));
	/* an error that is not a string still counts */
	const char odd[] = "{\"error\":7}";
	assert_true(dkr_pull_error(odd, strlen(odd), msg, sizeof(msg)));
}

/* ---- the engine's JSON ---- */

static void test_parse_inspect(void **state)
{
	vbx_container_state st;
	cJSON *j = cJSON_Parse(
	        "{\"Id\":\"abc123\",\"Config\":{\"Labels\":{"
	        "\"io.vibebox.environment\":\"env-1\"}},\"State\":{"
	        "\"Status\":\"exited\",\"Running\":false,\"OOMKilled\":true,"
	        "\"ExitCode\":137,\"Error\":\"boom\","
	        "\"StartedAt\":\"2024-05-01T10:00:00.25Z\","
	        "\"FinishedAt\":\"0001-01-01T00:00:00Z\"}}");
	assert_int_equal(dkr_parse_inspect(j, &st), VBX_OK);
	assert_string_equal(st.id, "abc123");
	assert_string_equal(st.env_id, "env-1");
	assert_string_equal(st.status, "exited");
	assert_false(st.running);
	assert_true(st.oom_killed);
	assert_int_equal(st.exit_code, 137);
	assert_string_equal(st.error, "boom");
	assert_int_equal(st.started_at, 1714557600250LL);
	assert_int_equal(st.finished_at, 0);
	cJSON_Delete(j);

	static const char *const bad[] = {"[]", "{}", "{\"Id\":1,\"State\":{}}",
	                                  "{\"Id\":\"x\",\"State\":[]}", "7"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		j = cJSON_Parse(bad[i]);
		assert_int_equal(dkr_parse_inspect(j, &st), VBX_EINVAL);
		cJSON_Delete(j);
	}
	assert_int_equal(dkr_parse_inspect(NULL, &st), VBX_EINVAL);
	/* wrong types inside are ignored, not trusted */
	j = cJSON_Parse("{\"Id\":\"x\",\"State\":{\"Status\":5,\"ExitCode\":"
	                "1e300,\"StartedAt\":\"yesterday\"}}");
	assert_int_equal(dkr_parse_inspect(j, &st), VBX_OK);
	assert_string_equal(st.status, "");
	assert_int_equal(st.exit_code, 0);
	assert_int_equal(st.started_at, 0);
	cJSON_Delete(j);
}

typedef struct seen_ports {
	vbx_env_port p[8];
	int n;
} seen_ports;

static int collect_port(void *ctx, const vbx_env_port *p)
{
	seen_ports *s = ctx;
	if (s->n < 8)
		s->p[s->n++] = *p;
	return 0;
}

static int stop_at_first(void *ctx, const vbx_env_port *p)
{
	return 99;
}

static void test_parse_ports(void **state)
{
	seen_ports s = {0};
	cJSON *j = cJSON_Parse(
	        "{\"NetworkSettings\":{\"Ports\":{"
	        "\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":"
	        "\"49153\"}],\"9000/"
	        "udp\":[{\"HostIp\":\"\",\"HostPort\":\"x\"},"
	        "{\"HostPort\":\"40000\"}],\"22/tcp\":null,"
	        "\"70000/tcp\":[{\"HostPort\":\"1\"}],\"80/"
	        "sctp\":[{\"HostPort\":"
	        "\"2\"}],\"81/tcp\":[{\"HostPort\":\"99999\"}],\"x\":[]}}}");
	assert_int_equal(dkr_parse_ports(j, collect_port, &s), VBX_OK);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.p[0].port, 8080);
	assert_string_equal(s.p[0].protocol, "tcp");
	assert_int_equal(s.p[0].host_port, 49153);
	assert_int_equal(s.p[1].port, 9000);
	assert_string_equal(s.p[1].protocol, "udp");
	assert_int_equal(s.p[1].host_port, 40000);
	assert_int_equal(dkr_parse_ports(j, stop_at_first, NULL), 99);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"NetworkSettings\":{\"Ports\":null}}");
	assert_int_equal(dkr_parse_ports(j, collect_port, &s), VBX_OK);
	cJSON_Delete(j);
	assert_int_equal(dkr_parse_ports(NULL, collect_port, &s), VBX_EINVAL);
}

static void test_parse_stats(void **state)
{
	vbx_container_stats st;
	cJSON *j = cJSON_Parse(
	        "{\"read\":\"2024-05-01T10:00:00Z\",\"pids_stats\":{"
	        "\"current\":3},\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":"
	        "3000000},\"system_cpu_usage\":20000000,\"online_cpus\":4},"
	        "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":1000000},"
	        "\"system_cpu_usage\":10000000},\"memory_stats\":{\"usage\":"
	        "1000,\"limit\":67108864,\"stats\":{\"inactive_file\":400}},"
	        "\"networks\":{\"eth0\":{\"rx_bytes\":10,\"tx_bytes\":20},"
	        "\"eth1\":{\"rx_bytes\":1,\"tx_bytes\":2}}}");
	assert_int_equal(dkr_parse_stats(j, &st), VBX_OK);
	/* 2e6 of 1e7 system ns on 4 cpus: 80% of one core */
	assert_true(st.cpu_percent > 79.99 && st.cpu_percent < 80.01);
	assert_int_equal(st.memory_bytes, 600);
	assert_int_equal(st.memory_limit_bytes, 67108864);
	assert_int_equal(st.pids, 3);
	assert_int_equal(st.net_rx_bytes, 11);
	assert_int_equal(st.net_tx_bytes, 22);
	assert_int_equal(st.at, 1714557600000LL);
	cJSON_Delete(j);
	/* cgroup v1 names, percpu list, counters that went backwards */
	j = cJSON_Parse(
	        "{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":1,"
	        "\"percpu_usage\":[1,2]},\"system_cpu_usage\":5},"
	        "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":9}},"
	        "\"memory_stats\":{\"usage\":100,\"stats\":{"
	        "\"total_inactive_file\":500,\"cache\":1}},\"networks\":7,"
	        "\"pids_stats\":{\"current\":-4}}");
	assert_int_equal(dkr_parse_stats(j, &st), VBX_OK);
	assert_true(st.cpu_percent == 0);
	assert_int_equal(st.memory_bytes, 100);
	assert_int_equal(st.pids, 0);
	assert_int_equal(st.net_rx_bytes, 0);
	cJSON_Delete(j);
	assert_int_equal(dkr_parse_stats(NULL, &st), VBX_EINVAL);
}

static void test_parse_list_item(void **state)
{
	vbx_container_state st;
	cJSON *j =
	        cJSON_Parse("{\"Id\":\"abc\",\"State\":\"exited\","
	                    "\"Status\":\"Exited (137) 2 minutes ago\","
	                    "\"Labels\":{\"io.vibebox.environment\":\"e1\"}}");
	assert_int_equal(dkr_parse_list_item(j, &st), VBX_OK);
	assert_string_equal(st.id, "abc");
	assert_string_equal(st.env_id, "e1");
	assert_false(st.running);
	assert_int_equal(st.exit_code, 137);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"Id\":\"abc\",\"State\":\"running\",\"Labels\":[]}");
	assert_int_equal(dkr_parse_list_item(j, &st), VBX_OK);
	assert_true(st.running);
	assert_string_equal(st.env_id, "");
	cJSON_Delete(j);
	j = cJSON_Parse("{\"State\":\"running\"}");
	assert_int_equal(dkr_parse_list_item(j, &st), VBX_EINVAL);
	cJSON_Delete(j);
}

/* ---- against the engine ---- */

static char env_id[VBX_ID_LEN];

static int engine_setup(void **state)
{
	if (load(CONF_OK) != VBX_OK) {
		fprintf(stderr, "%s\n", vbx_test_errors(host));
		return -1;
	}
	return 0;
}

/* A fresh environment id: dkrtest-<pid>-<n>; its container and network
 * are vbx-dkrtest-<pid>-<n>. */
static const char *next_env_id(void)
{
	static int n;
	snprintf(env_id, sizeof(env_id), "dkrtest-%d-%d", (int)getpid(), ++n);
	return env_id;
}

static vbx_env make_env(const char *image)
{
	vbx_env e = {0};
	snprintf(e.id, sizeof(e.id), "%s", next_env_id());
	snprintf(e.project_id, sizeof(e.project_id), "proj-%d", (int)getpid());
	snprintf(e.slug, sizeof(e.slug), "dkr-test");
	snprintf(e.image, sizeof(e.image), "%s", image);
	e.cpu_limit = 0.5;
	e.memory_limit = 64;
	return e;
}

/* `docker inspect <what>` parsed; the first element. NULL when it fails. */
static cJSON *docker_inspect(const char *kind, const char *what)
{
	char cmd[256], buf[4096];
	snprintf(cmd, sizeof(cmd), "docker %s inspect %s 2>/dev/null", kind,
	         what);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = 0, got;
	char *all = NULL;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
		all = realloc(all, n + got + 1);
		assert_non_null(all);
		memcpy(all + n, buf, got);
		n += got;
	}
	int status = pclose(f);
	cJSON *arr = status == 0 && all ? cJSON_ParseWithLength(all, n) : NULL;
	free(all);
	cJSON *first = cJSON_DetachItemFromArray(arr, 0);
	cJSON_Delete(arr);
	return first;
}

static const cJSON *path(const cJSON *j, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
	return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static bool has_string(const cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return true;
	}
	return false;
}

static void check_confinement(const char *id, const vbx_env *e)
{
	cJSON *j = docker_inspect("container", id);
	assert_non_null(j);
	const cJSON *h = path(j, "HostConfig", NULL);
	assert_int_equal(cJSON_GetArraySize(path(h, "CapDrop", NULL)), 1);
	assert_true(has_string(path(h, "CapDrop", NULL), "ALL"));
	assert_true(has_string(path(h, "CapAdd", NULL), "CHOWN"));
	assert_false(has_string(path(h, "CapAdd", NULL), "SYS_ADMIN"));
	assert_false(has_string(path(h, "CapAdd", NULL), "NET_RAW"));
	assert_true(
	        has_string(path(h, "SecurityOpt", NULL), "no-new-privileges"));
	assert_true(cJSON_IsFalse(path(h, "Privileged", NULL)));
	assert_true(cJSON_IsTrue(path(h, "Init", NULL)));
	assert_true(cJSON_IsFalse(path(h, "ReadonlyRootfs", NULL)));
	assert_true(path(h, "NanoCpus", NULL)->valuedouble == 5e8);
	assert_true(path(h, "Memory", NULL)->valuedouble == 64.0 * 1048576);
	assert_true(path(h, "MemorySwap", NULL)->valuedouble == 64.0 * 1048576);
	assert_true(path(h, "PidsLimit", NULL)->valuedouble == 512);
	assert_int_equal(cJSON_GetArraySize(path(h, "Binds", NULL)), 0);
	/* one mount only: the workspace, at root's home in the test image */
	const cJSON *mounts = path(j, "Mounts", NULL);
	char vol[80];
	snprintf(vol, sizeof(vol), "vbx-%s-workspace", e->id);
	assert_int_equal(cJSON_GetArraySize(mounts), 1);
	const cJSON *m = cJSON_GetArrayItem(mounts, 0);
	assert_string_equal(path(m, "Type", NULL)->valuestring, "volume");
	assert_string_equal(path(m, "Name", NULL)->valuestring, vol);
	assert_string_equal(path(m, "Destination", NULL)->valuestring, "/root");
	char net[64];
	snprintf(net, sizeof(net), "vbx-%s", e->id);
	assert_string_equal(path(h, "NetworkMode", NULL)->valuestring, net);
	const cJSON *b = cJSON_GetArrayItem(
	        path(path(h, "PortBindings", NULL), "8080/tcp", NULL), 0);
	assert_string_equal(path(b, "HostIp", NULL)->valuestring, "127.0.0.1");
	const cJSON *labels = path(j, "Config", "Labels");
	assert_string_equal(path(labels, DKR_LABEL_MANAGED, NULL)->valuestring,
	                    "true");
	assert_string_equal(path(labels, DKR_LABEL_ENV, NULL)->valuestring,
	                    e->id);
	assert_string_equal(path(labels, DKR_LABEL_PROJECT, NULL)->valuestring,
	                    e->project_id);
	assert_true(has_string(path(j, "Config", "Env"), "GREETING=hello"));
	assert_true(cJSON_IsFalse(path(j, "Config", "Tty")));
	cJSON_Delete(j);
	j = docker_inspect("network", net);
	assert_non_null(j);
	assert_string_equal(
	        path(path(j, "Labels", NULL), DKR_LABEL_ENV, NULL)->valuestring,
	        e->id);
	cJSON_Delete(j);
}

static void check_published(const char *id)
{
	seen_ports s = {0};
	assert_int_equal(dkr_ports(dkr_self, id, collect_port, &s), VBX_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.p[0].port, 8080);
	assert_true(s.p[0].host_port > 0);
	cJSON *j = docker_inspect("container", id);
	const cJSON *b = cJSON_GetArrayItem(
	        path(path(j, "NetworkSettings", "Ports"), "8080/tcp", NULL), 0);
	assert_string_equal(path(b, "HostIp", NULL)->valuestring, "127.0.0.1");
	assert_int_equal(atoi(path(b, "HostPort", NULL)->valuestring),
	                 s.p[0].host_port);
	cJSON_Delete(j);
}

static void check_stats(const char *id)
{
	vbx_container_stats st;
	assert_int_equal(dkr_stats(dkr_self, id, &st), VBX_OK);
	assert_int_equal(st.memory_limit_bytes, 64u * 1048576);
	assert_true(st.memory_bytes > 0);
	assert_true(st.pids >= 1);
	assert_true(st.cpu_percent >= 0);
	assert_true(st.at > 0);
}

static void expect_state(const char *id, bool running, const char *status)
{
	vbx_container_state st;
	assert_int_equal(dkr_inspect(dkr_self, id, &st), VBX_OK);
	assert_string_equal(st.id, id);
	assert_string_equal(st.env_id, env_id);
	assert_int_equal(st.running, running);
	assert_string_equal(st.status, status);
	if (running)
		assert_true(st.started_at > 1700000000000LL);
}

static int find_id(void *ctx, const vbx_container_state *c)
{
	return strcmp(c->id, ctx) == 0 ? 7 : 0;
}

static void test_lifecycle(void **state)
{
	dkr *d = dkr_self;
	vbx_env e = make_env(IMAGE);
	static const char *const vars[] = {"GREETING=hello"};
	vbx_env_port port = {.port = 8080, .protocol = "tcp"};
	vbx_container_spec spec = {.env = &e,
	                           .variables = vars,
	                           .n_variables = 1,
	                           .ports = &port,
	                           .n_ports = 1};
	char id[VBX_CONTAINER_ID_LEN], why[256] = "";
	char id2[VBX_CONTAINER_ID_LEN];

	if (dkr_create(d, &spec, id, why, sizeof(why)) != VBX_OK)
		fail_msg("create: %s", why);
	assert_int_equal(strlen(id), 64);
	expect_state(id, false, "created");
	check_confinement(id, &e);
	/* a leftover container of that name is replaced */
	if (dkr_create(d, &spec, id2, why, sizeof(why)) != VBX_OK)
		fail_msg("create again: %s", why);
	assert_string_not_equal(id, id2);
	vbx_container_state st;
	assert_int_equal(dkr_inspect(d, id, &st), VBX_ENOTFOUND);
	memcpy(id, id2, sizeof(id));

	if (dkr_start(d, id, why, sizeof(why)) != VBX_OK)
		fail_msg("start: %s", why);
	assert_int_equal(dkr_start(d, id, why, sizeof(why)), VBX_OK); /* 304 */
	expect_state(id, true, "running");
	check_published(id);
	check_stats(id);
	assert_int_equal(dkr_list(d, find_id, id), 7);

	assert_int_equal(dkr_stop(d, id, 5), VBX_OK);
	expect_state(id, false, "exited");
	assert_int_equal(dkr_stop(d, id, 5), VBX_OK); /* 304 */
	vbx_container_stats sample;
	assert_int_equal(dkr_stats(d, id, &sample), VBX_ESTATE);

	if (dkr_restart(d, id, 5, why, sizeof(why)) != VBX_OK)
		fail_msg("restart: %s", why);
	expect_state(id, true, "running");

	assert_int_equal(dkr_remove(d, id), VBX_OK);
	assert_int_equal(dkr_inspect(d, id, &st), VBX_ENOTFOUND);
	char net[64];
	snprintf(net, sizeof(net), "vbx-%s", e.id);
	cJSON *gone = docker_inspect("network", net);
	assert_null(gone);
	assert_int_equal(dkr_remove(d, id), VBX_OK); /* gone already */
	/* the workspace outlives its containers; a purge removes it */
	char vol[80];
	snprintf(vol, sizeof(vol), "vbx-%s-workspace", e.id);
	cJSON *ws = docker_inspect("volume", vol);
	assert_non_null(ws);
	cJSON_Delete(ws);
	assert_int_equal(dkr_env_purge(d, e.id,
	                               VBX_RUNTIME_CONTAINERS |
	                                       VBX_RUNTIME_NETWORK |
	                                       VBX_RUNTIME_WORKSPACE,
	                               why, sizeof(why)),
	                 VBX_OK);
	assert_null(docker_inspect("volume", vol));
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void create_and_start(vbx_env *e, char *id)
{
	vbx_container_spec spec = {.env = e};
	char why[256] = "";
	if (dkr_create(dkr_self, &spec, id, why, sizeof(why)) != VBX_OK)
		fail_msg("create: %s", why);
	if (dkr_start(dkr_self, id, why, sizeof(why)) != VBX_OK)
		fail_msg("start: %s", why);
}

/* An image whose command exits without a TTY still runs: the keep-alive
 * replaces its command, and SIGTERM ends it at once. */
static void test_keep_alive(void **state)
{
	vbx_env e = make_env(CMD_IMAGE);
	char id[VBX_CONTAINER_ID_LEN];
	vbx_container_state st;
	create_and_start(&e, id);
	cJSON *j = docker_inspect("container", id);
	const cJSON *ep = path(j, "Config", "Entrypoint");
	assert_string_equal(cJSON_GetArrayItem(ep, 0)->valuestring, "/bin/sh");
	assert_non_null(
	        strstr(cJSON_GetArrayItem(ep, 2)->valuestring, "keep-alive"));
	assert_true(cJSON_GetArraySize(path(j, "Config", "Cmd")) == 0);
	cJSON_Delete(j);
	sleep(3);
	expect_state(id, true, "running");
	int64_t t0 = mono_ms();
	assert_int_equal(dkr_stop(dkr_self, id, 10), VBX_OK);
	int64_t took = mono_ms() - t0;
	print_message("stopped in %lld ms\n", (long long)took);
	assert_true(took < 2000);
	assert_int_equal(dkr_inspect(dkr_self, id, &st), VBX_OK);
	assert_false(st.running);
	assert_int_equal(st.exit_code, 0);
	assert_int_equal(dkr_remove(dkr_self, id), VBX_OK);
}

/* An image matched by keep_command runs its own command: this one
 * exits at once. */
static void test_keep_command(void **state)
{
	static const char *const keep[] = {"vibebox/test-cmd:*"};
	dkr_conf saved = dkr_self->conf;
	vbx_env e = make_env(CMD_IMAGE);
	char id[VBX_CONTAINER_ID_LEN];
	vbx_container_state st = {0};
	dkr_self->conf.keep_command = keep;
	dkr_self->conf.n_keep_command = 1;
	create_and_start(&e, id);
	dkr_self->conf = saved;
	cJSON *j = docker_inspect("container", id);
	assert_true(cJSON_GetArraySize(path(j, "Config", "Entrypoint")) == 0);
	assert_string_equal(
	        cJSON_GetArrayItem(path(j, "Config", "Cmd"), 0)->valuestring,
	        "/bin/sh");
	cJSON_Delete(j);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(dkr_inspect(dkr_self, id, &st), VBX_OK);
		if (!st.running)
			break;
		usleep(50000);
	}
	assert_false(st.running);
	assert_int_equal(dkr_remove(dkr_self, id), VBX_OK);
}

static void test_denied(void **state)
{
	vbx_env e = make_env("debian:12");
	vbx_container_spec spec = {.env = &e};
	char id[VBX_CONTAINER_ID_LEN], why[256] = "";
	assert_int_equal(dkr_create(dkr_self, &spec, id, why, sizeof(why)),
	                 VBX_EDENIED);
	assert_non_null(strstr(why, "debian:12"));
	assert_non_null(strstr(why, "images"));
	/* not a reference at all */
	snprintf(e.image, sizeof(e.image), "../../containers/json");
	assert_int_equal(dkr_create(dkr_self, &spec, id, why, sizeof(why)),
	                 VBX_EINVAL);
}

static void test_pull_fails(void **state)
{
	vbx_env e = make_env("vibebox/does-not-exist:1");
	vbx_container_spec spec = {.env = &e};
	char id[VBX_CONTAINER_ID_LEN], why[512] = "";
	assert_int_equal(dkr_create(dkr_self, &spec, id, why, sizeof(why)),
	                 VBX_ENOTFOUND);
	assert_non_null(strstr(why, "pull of vibebox/does-not-exist:1 failed"));
	char net[64];
	snprintf(net, sizeof(net), "vbx-%s", e.id);
	cJSON *none = docker_inspect("network", net);
	assert_null(none); /* nothing left behind */
}

static void test_unknown_id(void **state)
{
	dkr *d = dkr_self;
	vbx_container_state st;
	vbx_container_stats sample;
	char why[256] = "";
	const char *ids[] = {"0123456789abcdef0123456789abcdef0123456789abcdef"
	                     "0123456789abcdef",
	                     "vbx-dkrtest-nope", "../../images/json", ""};
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
		assert_int_equal(dkr_inspect(d, ids[i], &st), VBX_ENOTFOUND);
		assert_int_equal(dkr_start(d, ids[i], why, sizeof(why)),
		                 VBX_ENOTFOUND);
		assert_true(why[0] != '\0');
		assert_int_equal(dkr_stop(d, ids[i], 1), VBX_ENOTFOUND);
		assert_int_equal(dkr_restart(d, ids[i], 1, NULL, 0),
		                 VBX_ENOTFOUND);
		assert_int_equal(dkr_stats(d, ids[i], &sample), VBX_ENOTFOUND);
		assert_int_equal(dkr_ports(d, ids[i], collect_port, NULL),
		                 VBX_ENOTFOUND);
		assert_int_equal(dkr_remove(d, ids[i]), VBX_OK);
	}
}

static void test_ping(void **state)
{
	char why[256] = "", v[16];
	assert_int_equal(dkr_ping(dkr_self, why, sizeof(why)), VBX_OK);
	vbx_container_state st;
	dkr_inspect(dkr_self, "x", &st); /* negotiates */
	dkr_api_version(dkr_self, v);
	assert_string_equal(v, "1.41");
}

/* An endpoint with nothing behind it: every call says VBX_EUNAVAIL. */
static void test_dead_socket(void **state)
{
	dkr dead = {0};
	dead.conf = dkr_self->conf;
	dead.conf.endpoint = "unix:///nonexistent/dkrtest/docker.sock";
	dead.conf.request_ms = 2000;
	assert_int_equal(dkr_client_init(&dead), VBX_OK);
	vbx_env e = make_env(IMAGE);
	vbx_container_spec spec = {.env = &e};
	vbx_container_state st;
	vbx_container_stats sample;
	char id[VBX_CONTAINER_ID_LEN], why[512] = "";
	assert_int_equal(dkr_ping(&dead, why, sizeof(why)), VBX_EUNAVAIL);
	assert_non_null(strstr(why, "/nonexistent/dkrtest/docker.sock"));
	assert_int_equal(dkr_create(&dead, &spec, id, why, sizeof(why)),
	                 VBX_EUNAVAIL);
	assert_non_null(strstr(why, "did not answer"));
	assert_int_equal(dkr_inspect(&dead, "abc", &st), VBX_EUNAVAIL);
	assert_int_equal(dkr_start(&dead, "abc", why, sizeof(why)),
	                 VBX_EUNAVAIL);
	assert_int_equal(dkr_stop(&dead, "abc", 1), VBX_EUNAVAIL);
	assert_int_equal(dkr_stats(&dead, "abc", &sample), VBX_EUNAVAIL);
	assert_int_equal(dkr_remove(&dead, "abc"), VBX_EUNAVAIL);
	assert_int_equal(dkr_list(&dead, find_id, "abc"), VBX_EUNAVAIL);
	char v[16];
	dkr_api_version(&dead, v);
	assert_string_equal(v, ""); /* negotiated again next time */
	dkr_client_fini(&dead);
}

/* Remove whatever a failed run left behind (our prefix only). */
static void cleanup(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "docker ps -aq --filter name=vbx-dkrtest-%d- | xargs -r "
	         "docker rm -f >/dev/null 2>&1; docker network ls -q --filter "
	         "name=vbx-dkrtest-%d- | xargs -r docker network rm "
	         ">/dev/null 2>&1; docker volume ls -q --filter "
	         "name=vbx-dkrtest-%d- | xargs -r docker volume rm "
	         ">/dev/null 2>&1",
	         (int)getpid(), (int)getpid(), (int)getpid());
	if (system(cmd) == -1)
		perror("cleanup");
}

static bool engine_ready(void)
{
	const char *src = getenv("VBX_SRCDIR");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sh %s/tests/docker/docker.sh check",
	         src ? src : ".");
	return system(cmd) == 0;
}

int main(void)
{
	const struct CMUnitTest units[] = {
	        cmocka_unit_test(test_time_good),
	        cmocka_unit_test(test_time_broken),
	        cmocka_unit_test(test_endpoint_good),
	        cmocka_unit_test(test_endpoint_broken),
	        cmocka_unit_test_teardown(test_config_defaults, unload),
	        cmocka_unit_test_teardown(test_config_values, unload),
	        cmocka_unit_test_teardown(test_config_empty_list, unload),
	        cmocka_unit_test(test_config_broken),
	        cmocka_unit_test(test_allow_list),
	        cmocka_unit_test(test_image_check),
	        cmocka_unit_test(test_pull_error),
	        cmocka_unit_test(test_parse_inspect),
	        cmocka_unit_test(test_parse_ports),
	        cmocka_unit_test(test_parse_stats),
	        cmocka_unit_test(test_parse_list_item),
	};
	const struct CMUnitTest engine[] = {
	        cmocka_unit_test(test_ping),
	        cmocka_unit_test(test_lifecycle),
	        cmocka_unit_test(test_keep_alive),
	        cmocka_unit_test(test_keep_command),
	        cmocka_unit_test(test_denied),
	        cmocka_unit_test(test_pull_fails),
	        cmocka_unit_test(test_unknown_id),
	        cmocka_unit_test(test_dead_socket),
	};
	int failed = cmocka_run_group_tests_name("docker-runtime units", units,
	                                         NULL, NULL);
	if (failed)
		return failed;
	if (!engine_ready()) {
		fprintf(stderr,
		        "no Docker engine or no %s: engine tests "
		        "skipped (tests/docker/docker.sh start)\n",
		        IMAGE);
		return 77;
	}
	failed = cmocka_run_group_tests_name("docker-runtime engine", engine,
	                                     engine_setup, unload);
	cleanup();
	return failed;
}
