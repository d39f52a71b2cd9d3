# SPDX-License-Identifier: Apache-2.0
"""Single-runner jobs across replicas (issue 11): the platform's reconcile
and idle passes run on the one replica that holds the cache lock
"platform:lifecycle" (plugins/platform/singleton.c).

Three vibeboxd share one PostgreSQL database, the Docker engine and a real
redis-server (loaded through redis-cache), all on loopback. Each replica's
part is read from the check "jobs" of its /health/ready: its role
(runner, standby, local, alone), the fencing token of its last hold and
the reconcile passes it ran. Checks:
  - exactly one replica runs the passes; the others run none;
  - SIGKILL the runner: another takes over within jobs.lock_ttl plus a
    tick, with a larger fencing token, and logs it;
  - SIGTERM the runner: it releases the lock, and another takes over at
    once (well within the TTL);
  - Redis down: every replica runs the passes (the documented fallback);
    Redis back: one runner again, without a restart;
  - redis-cache listed after platform stops first: the runner's release
    fails (logged) and the lock lapses after its TTL;
  - without redis-cache (no lock provider) every daemon runs the passes,
    as a single replica always did.
"""

import os
import re
import signal
import subprocess
import time

from daemon import Daemon, Suite, expect
from fixture import BUILD, CLUSTER, Platform, SECRET, skip_unless_ready
from redis import Redis, skip_unless_redis

TTL = 6.0  # jobs.lock_ttl, seconds
TICK = 0.5  # the lifecycle timer
PLATFORM = f'jobs = {{ lock_ttl = "{int(TTL)}s"; }}; ' \
    'environments = { reconcile_interval = "1s"; };'
REDIS_SO = os.path.join(BUILD, "plugins", "redis-cache", ".libs",
                        "redis-cache.so")
DETAIL = re.compile(r"platform:lifecycle: (\w+), fencing token (\d+), "
                    r"(\d+) reconcile passes")
P = None
R = None
DB = None
REPLICAS = []


def wait_for(cond, timeout, what):
    """Poll cond until it is true; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s: {what}")


def part(d):
    """(role, fence, passes) of replica d, or None when it does not
    answer (dead, or draining)."""
    try:
        st, body, _ = d.get("/health/ready", timeout=3)
    except OSError:
        return None
    if st != 200:
        return None
    for c in body.get("checks", []):
        if c.get("name") == "jobs":
            m = DETAIL.search(c.get("detail", ""))
            expect(m, f"jobs detail: {c}")
            return m.group(1), int(m.group(2)), int(m.group(3))
    raise AssertionError(f"no check jobs: {body}")


def parts(replicas):
    return [part(d) for d in replicas]


def runners(replicas):
    """The replicas that report themselves runner."""
    return [d for d, x in zip(replicas, parts(replicas))
            if x and x[0] == "runner"]


def replica(redis=True, cache_last=False, prefix="vibebox:"):
    """One more vibeboxd on the shared database (and Redis, listed first
    in plugins as the admin guide says, or last). Replicas of another
    prefix are another installation: their lock is another."""
    key = os.path.join(P.dir, "secrets.key")
    cache = f'{{ name = "redis-cache"; config = {{ url = "{R.url}"; ' \
        f'prefix = "{prefix}"; }}; }}' if redis else ""
    first, last = ("", "," + cache) if cache_last else \
        (cache + "," if cache else "", "")
    d = Daemon(plugin_dir=P.plugin_dir, plugins=f"""
  {first}
  {{ name = "postgres-store"; config = {{ conninfo = "{DB}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ]; }}; }},
  {{ name = "platform"; config = {{ {PLATFORM} }}; }}{last}""")
    d.conninfo = DB
    d.start()
    P.instances.append(Platform.instance_id(d))
    return d


def live():
    return [d for d in REPLICAS if d.proc.poll() is None]


def one_runner(replicas, timeout):
    """Wait until exactly one of replicas is the runner and the others
    stand by; returns it."""
    wait_for(lambda: [x and x[0] for x in parts(replicas)].count("runner")
             == 1 and all(x and x[0] in ("runner", "standby")
                          for x in parts(replicas)),
             timeout, f"one runner: {parts(replicas)}")
    return runners(replicas)[0]


def only_the_runner_works(replicas, runner, seconds=3):
    """Over a few reconcile_intervals the runner's passes grow (a pass
    asks the engine, which other tests keep busy: at least one), and no
    other replica's do."""
    before = [part(d) for d in replicas]
    time.sleep(seconds)
    after = [part(d) for d in replicas]
    for d, b, a in zip(replicas, before, after):
        if d is runner:
            expect(a[0] == "runner" and a[2] > b[2],
                   f"the runner's passes: {b} -> {a}")
        else:
            expect(a[0] == "standby" and a[2] == b[2],
                   f"a standby ran passes: {b} -> {a}")


def test_exactly_one_replica_runs_the_passes():
    REPLICAS.extend(replica() for _ in range(3))
    runner = one_runner(REPLICAS, 10)
    only_the_runner_works(REPLICAS, runner)
    for d in REPLICAS:
        expect(d is runner or part(d)[2] == 0,
               f"a replica that never held the lock ran passes: {part(d)}")
    fence = part(runner)[1]
    expect(f"platform:lifecycle: this replica is now the runner (fencing "
           f"token {fence})" in runner.logtext(), "the runner logged it")


def test_sigkill_the_runner_another_takes_over_in_ttl():
    runner = runners(live())[0]
    fence = part(runner)[1]
    runner.signal(signal.SIGKILL)
    runner.proc.wait(10)
    others = live()
    took = wait_for(lambda: len(runners(others)) == 1, TTL + 5,
                    f"a new runner: {parts(others)}")
    new = runners(others)[0]
    role, new_fence, passes0 = part(new)
    print(f"# SIGKILL takeover {took:.2f}s (lock_ttl {TTL:.0f}s)")
    expect(took <= TTL + TICK + 1.0, f"takeover took {took:.2f}s")
    expect(new_fence > fence, f"fence {fence} -> {new_fence}")
    # it runs the passes now (at once on takeover, then every second)
    wait_for(lambda: part(new)[2] > passes0, 3, "the new runner's passes")
    expect(one_runner(others, 2) is new, parts(others))
    only_the_runner_works(others, new)
    expect(f"this replica is now the runner (fencing token {new_fence})"
           in new.logtext(), "the new runner logged it")


def test_sigterm_the_runner_releases_the_lock_at_once():
    REPLICAS.append(replica())  # three again
    replicas = live()
    runner = one_runner(replicas, 5)
    fence = part(runner)[1]
    others = [d for d in replicas if d is not runner]
    t0 = time.monotonic()
    runner.signal(signal.SIGTERM)
    took = wait_for(lambda: len(runners(others)) == 1, TTL + 5,
                    f"a new runner: {parts(others)}")
    expect(runner.proc.wait(20) == 0, "the runner stopped cleanly")
    expect(took < TTL / 2, f"takeover took {took:.2f}s: not released?")
    expect(part(runners(others)[0])[1] > fence, parts(others))
    expect(f"released the lock (fencing token {fence})" in runner.logtext(),
           "the runner logged its release")
    print(f"# SIGTERM takeover {time.monotonic() - t0:.2f}s")


def test_redis_down_every_replica_runs_then_one_again():
    replicas = live()
    one_runner(replicas, 5)
    R.halt()
    wait_for(lambda: all(x and x[0] == "local" for x in parts(replicas)),
             TTL + 5, f"every replica runs locally: {parts(replicas)}")
    before = [x[2] for x in parts(replicas)]
    time.sleep(2.5)
    after = [x[2] for x in parts(replicas)]
    expect(all(a > b for a, b in zip(after, before)),
           f"passes while Redis is down: {before} -> {after}")
    for d in replicas:
        expect(d.logtext().count("cannot take the lock") == 1,
               "one warning per outage")
    R.start()
    t = time.monotonic()
    runner = one_runner(replicas, TTL + 15)
    print(f"# one runner again {time.monotonic() - t:.2f}s after Redis")
    only_the_runner_works(replicas, runner)


def test_redis_cache_listed_after_platform_the_lock_lapses():
    """It stops before platform: the release cannot reach Redis, says
    so, and the lock lapses after its TTL (the admin guide's caveat)."""
    pair = [replica(cache_last=True, prefix="other:") for _ in range(2)]
    try:
        runner = one_runner(pair, 10)
        other = [d for d in pair if d is not runner]
        runner.signal(signal.SIGTERM)
        took = wait_for(lambda: len(runners(other)) == 1, TTL + 5,
                        f"a new runner: {parts(other)}")
        expect(runner.proc.wait(20) == 0, "the runner stopped cleanly")
        expect(took > TTL / 2, f"takeover after {took:.2f}s: released?")
        expect("list it before platform in plugins" in runner.logtext(),
               "the failed release is explained")
    finally:
        for d in pair:
            d.stop()


def test_without_a_lock_provider_each_daemon_runs():
    alone = [replica(redis=False) for _ in range(2)]
    try:
        wait_for(lambda: all(x and x[0] == "alone" and x[2] >= 2
                             for x in parts(alone)),
                 10, f"both run: {parts(alone)}")
    finally:
        for d in alone:
            expect(d.stop() == 0, "stopped")


def skip(why):
    required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
    print(f"# {'FAILED' if required else 'skipped'}: {why}")
    raise SystemExit(1 if required else 77)


def main():
    global P, R, DB
    skip_unless_redis()
    if not os.path.exists(REDIS_SO):
        skip("redis-cache is not built")
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        os.symlink(REDIS_SO, os.path.join(p.plugin_dir, "redis-cache.so"))
        DB = subprocess.run([CLUSTER, "createdb", p.pg, "jobs"], check=True,
                            capture_output=True,
                            text=True).stdout.strip()
        R = Redis()
        try:
            R.start()
            for fn in (test_exactly_one_replica_runs_the_passes,
                       test_sigkill_the_runner_another_takes_over_in_ttl,
                       test_sigterm_the_runner_releases_the_lock_at_once,
                       test_redis_down_every_replica_runs_then_one_again,
                       test_redis_cache_listed_after_platform_the_lock_lapses,
                       test_without_a_lock_provider_each_daemon_runs):
                t = time.monotonic()
                s.run(fn)
                print(f"# took {time.monotonic() - t:.1f}s")
        finally:
            for d in REPLICAS:
                d.stop()
            R.stop()
            if s.failed:
                for d in REPLICAS:
                    print(f"# daemon log: {d.logpath}")
    s.finish()


if __name__ == "__main__":
    main()
