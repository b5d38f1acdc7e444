/* ballot-sim: see README.md in this folder. Deterministic results go to stdout (the same
 * seed and flags give the same bytes); speed figures go to stderr. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"

#define STEPS_DEFAULT 20000u
/* Each membership change costs CONFIG_ALPHA slots (the leader fills the gap before the new
 * configuration governs), so runs with --membership get more steps by default. */
#define STEPS_DEFAULT_MEMBERSHIP 60000u

typedef struct cli {
    sim_options_t opt;
    uint64_t seed_first;
    uint64_t seed_last;
    uint64_t sanitized_seeds; /* 0: no scaling */
    const char *expect;       /* --expect-violation */
    const char *html_path;    /* --html: the timeline page on a violation */
    bool ranged;
    bool steps_given;
} cli_t;

static void usage(FILE *out)
{
    fputs("usage: ballot-sim [--seed N | --seeds A..B] [options]\n"
          "  --seed N               run one seed (replays exactly: same output, same trace)\n"
          "  --seeds A..B           run seeds A to B, stop at the first violation\n"
          "  --nodes N              1, 3, 5 or 7 (default: drawn per seed)\n"
          "  --steps N              steps with faults before healing (default 20000; 60000\n"
          "                         with --membership)\n"
          "  --clients N --keys N   simulated clients (default 4) and keys (default 3)\n"
          "  --mix G,S,C,D          percent of GET, SET, CAS, DEL (default 40,30,20,10)\n"
          "  --loss P --dup P --reorder P               per message\n"
          "  --partition-rate P --crash-rate P --bitflip P --transfer-rate P\n"
          "                         per fault tick (every 100 ms of simulated time)\n"
          "  --garbage P            per fault tick: a malformed or out-of-range message to a\n"
          "                         random node, which must refuse it (default 0)\n"
          "  --bitflip-anywhere     bit flips may hit the WAL past its synced end too (which\n"
          "                         the WAL cannot tell from a torn write)\n"
          "  --torn P               per crash during a sync: part of its writes survive\n"
          "  --fsync-fail P         per disk sync: it fails and the node stops\n"
          "  --drift PPM            max clock rate error (default: the lease's drift bound)\n"
          "  --clock-drift-exceeds-bound   clocks drift past the bound (lease checker fires)\n"
          "  --no-faults            all fault rates 0 (clocks still drift within the bound)\n"
          "  --core-defaults        the core's default timings (default: drawn per seed)\n"
          "  --lease-stress         aim at leases: lease = election timeout, clocks at the\n"
          "                         drift bound's extremes, the leader isolated\n"
          "  --snapshot-every N     each node snapshots every N applied slots, compacting\n"
          "                         its WAL and log (default 0: never)\n"
          "  --snapshots            snapshots on, N drawn per seed (20..200; off for a\n"
          "                         quarter of all seeds)\n"
          "  --membership           membership changes as a fault kind: the cluster starts\n"
          "                         with --nodes founders (drawn: mostly 1 or 3) and the\n"
          "                         operator adds, promotes, removes and replaces nodes\n"
          "                         through the log (1 founder: 1 -> 3 -> 5 -> 3 voters)\n"
          "  --membership-rate P    per fault tick: the operator's next step (default 0.5)\n"
          "  --liveness-ms N        after healing, the cluster must settle within N ms\n"
          "                         (default 10000)\n"
          "  --trace FILE           write every protocol event of the run, one line each\n"
          "  --expect-violation INV succeed only if invariant INV is violated in the range\n"
          "  --sanitized-seeds N    when BALLOT_SANITIZED=1, run only the first N seeds\n"
          "  --verbose              one line per seed\n"
          "  --notes                simulator happenings (crashes, partitions...) to stderr\n"
          "  --html FILE            on a violation, the timeline page of the last events there\n"
          "                         (default $TMPDIR/ballot-sim-seed<N>.html)\n",
          out);
}

static void defaults(cli_t *cli)
{
    memset(cli, 0, sizeof(*cli));
    sim_options_t *o = &cli->opt;
    o->steps = STEPS_DEFAULT;
    o->clients = 4;
    o->keys = 3;
    o->mix[0] = 40;
    o->mix[1] = 30;
    o->mix[2] = 20;
    o->mix[3] = 10;
    o->loss = 0.02;
    o->dup = 0.02;
    o->reorder = 0.05;
    o->partition_rate = 0.05;
    o->crash_rate = 0.03;
    o->torn = 0.5;
    o->bitflip = 0.01;
    o->fsync_fail = 0.0005;
    o->transfer_rate = 0.01;
    o->drift_change = 0.05;
    o->drift_ppm = -1;
    o->liveness_ms = SIM_LIVENESS_MS_DEFAULT;
    o->membership_rate = 0.5;
    cli->seed_first = 1;
    cli->seed_last = 1;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool parse_p(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_range(const char *s, uint64_t *first, uint64_t *last)
{
    const char *dots = strstr(s, "..");
    if (dots == NULL || dots == s) {
        return false;
    }
    char head[32];
    size_t n = (size_t)(dots - s);
    if (n >= sizeof(head)) {
        return false;
    }
    memcpy(head, s, n);
    head[n] = '\0';
    return parse_u64(head, first) && parse_u64(dots + 2, last) && *first <= *last;
}

/* "G,S,C,D": percent of GET, SET, CAS and DEL, summing to 100. */
static int parse_mix(sim_options_t *o, const char *v)
{
    unsigned g, s, c, d;
    char tail;
    if (sscanf(v, "%u,%u,%u,%u%c", &g, &s, &c, &d, &tail) != 4 || g + s + c + d != 100) {
        return -1;
    }
    o->mix[0] = g;
    o->mix[1] = s;
    o->mix[2] = c;
    o->mix[3] = d;
    return 0;
}

/* Options that take a probability. */
static double *prob_option(sim_options_t *o, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } table[] = {
        {"--loss", offsetof(sim_options_t, loss)},
        {"--dup", offsetof(sim_options_t, dup)},
        {"--reorder", offsetof(sim_options_t, reorder)},
        {"--partition-rate", offsetof(sim_options_t, partition_rate)},
        {"--crash-rate", offsetof(sim_options_t, crash_rate)},
        {"--torn", offsetof(sim_options_t, torn)},
        {"--bitflip", offsetof(sim_options_t, bitflip)},
        {"--fsync-fail", offsetof(sim_options_t, fsync_fail)},
        {"--transfer-rate", offsetof(sim_options_t, transfer_rate)},
        {"--garbage", offsetof(sim_options_t, garbage)},
        {"--membership-rate", offsetof(sim_options_t, membership_rate)},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(name, table[i].name) == 0) {
            return (double *)((char *)o + table[i].offset);
        }
    }
    return NULL;
}

static void no_faults(sim_options_t *o)
{
    o->loss = o->dup = o->reorder = 0;
    o->partition_rate = o->crash_rate = o->torn = o->bitflip = o->fsync_fail = 0;
    o->transfer_rate = 0;
}

static int parse_value_option(cli_t *cli, const char *name, const char *v)
{
    sim_options_t *o = &cli->opt;
    uint64_t n = 0;
    double *p = prob_option(o, name);
    if (p != NULL) {
        return parse_p(v, p) ? 0 : -1;
    }
    if (strcmp(name, "--seed") == 0) {
        cli->ranged = false;
        return parse_u64(v, &cli->seed_first) ? (cli->seed_last = cli->seed_first, 0) : -1;
    }
    if (strcmp(name, "--seeds") == 0) {
        cli->ranged = true;
        return parse_range(v, &cli->seed_first, &cli->seed_last) ? 0 : -1;
    }
    if (strcmp(name, "--trace") == 0) {
        o->trace_path = v;
        return 0;
    }
    if (strcmp(name, "--html") == 0) {
        cli->html_path = v;
        return 0;
    }
    if (strcmp(name, "--mix") == 0) {
        return parse_mix(o, v);
    }
    if (strcmp(name, "--expect-violation") == 0) {
        cli->expect = v;
        return 0;
    }
    if (!parse_u64(v, &n)) {
        return -1;
    }
    if (strcmp(name, "--nodes") == 0 && (n == 1 || n == 3 || n == 5 || n == 7)) {
        o->nodes = (uint32_t)n;
    } else if (strcmp(name, "--steps") == 0 && n > 0) {
        o->steps = n;
        cli->steps_given = true;
    } else if (strcmp(name, "--clients") == 0 && n >= 1 && n <= SM_CLIENTS_MAX) {
        o->clients = (uint32_t)n;
    } else if (strcmp(name, "--keys") == 0 && n >= 1 && n <= SM_KEYS_MAX) {
        o->keys = (uint32_t)n;
    } else if (strcmp(name, "--drift") == 0 && n <= CLOCK_RATE_PPM_MAX) {
        o->drift_ppm = (int64_t)n;
    } else if (strcmp(name, "--liveness-ms") == 0 && n > 0 && n <= 3600000) {
        o->liveness_ms = (uint32_t)n;
    } else if (strcmp(name, "--snapshot-every") == 0 && n <= UINT32_MAX) {
        o->snapshot_every = (uint32_t)n;
    } else if (strcmp(name, "--sanitized-seeds") == 0 && n > 0) {
        cli->sanitized_seeds = n;
    } else {
        return -1;
    }
    return 0;
}

static int parse_args(cli_t *cli, int argc, char **argv)
{
    defaults(cli);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--no-faults") == 0) {
            no_faults(&cli->opt);
        } else if (strcmp(a, "--clock-drift-exceeds-bound") == 0) {
            cli->opt.drift_exceeds_bound = true;
        } else if (strcmp(a, "--lease-stress") == 0) {
            cli->opt.lease_stress = true;
        } else if (strcmp(a, "--core-defaults") == 0) {
            cli->opt.core_defaults = true;
        } else if (strcmp(a, "--bitflip-anywhere") == 0) {
            cli->opt.bitflip_anywhere = true;
        } else if (strcmp(a, "--membership") == 0) {
            cli->opt.membership = true;
            if (!cli->steps_given) {
                cli->opt.steps = STEPS_DEFAULT_MEMBERSHIP;
            }
        } else if (strcmp(a, "--snapshots") == 0) {
            cli->opt.snapshots_drawn = true;
        } else if (strcmp(a, "--notes") == 0) {
            cli->opt.notes = true;
        } else if (strcmp(a, "--verbose") == 0) {
            cli->opt.verbose = true;
        } else if (i + 1 < argc && strncmp(a, "--", 2) == 0) {
            if (parse_value_option(cli, a, argv[i + 1]) != 0) {
                fprintf(stderr, "ballot-sim: bad value for %s: %s\n", a, argv[i + 1]);
                return -1;
            }
            i++;
        } else {
            fprintf(stderr, "ballot-sim: unknown or incomplete option %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    const char *sanitized = getenv("BALLOT_SANITIZED");
    if (cli->sanitized_seeds > 0 && sanitized != NULL && strcmp(sanitized, "1") == 0 &&
        cli->seed_last - cli->seed_first >= cli->sanitized_seeds) {
        cli->seed_last = cli->seed_first + cli->sanitized_seeds - 1;
    }
    return 0;
}

/* Nodes that ran (with --membership: founders and every id added since). */
static uint32_t sim_nodes_run(const sim_t *sim)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        n += sim->nodes[id].life != NODE_SPARE ? 1 : 0;
    }
    return n;
}

static void print_run(const sim_t *sim, uint64_t seed)
{
    const sim_stats_t *s = &sim->stats;
    printf("seed %" PRIu64 ": ok: %u nodes, %" PRIu64 " steps, %" PRIu64 " ms simulated, %" PRIu64
           " slots chosen, %" PRIu64 " elections, %" PRIu64 " ops (%" PRIu64
           " indeterminate), %" PRIu64 " crashes (%" PRIu64 " torn), %" PRIu64
           " fsync failures, %" PRIu64 " bit flips, %" PRIu64 " corrupt disks detected, %" PRIu64
           " partitions, %" PRIu64 " transfers, %" PRIu64 " msgs (%" PRIu64 " dropped, %" PRIu64
           " duplicated), lease held in %" PRIu64 " steps, settled %" PRIu64 " ms after healing\n",
           seed, sim_nodes_run(sim), sim->steps, sim->now_ms, s->chosen_slots, s->elections,
           s->ops_completed, s->ops_indeterminate, s->crashes, s->torn_crashes, s->fsync_failures,
           s->bitflips, s->corrupt_detected, s->partitions, s->transfers, s->messages_sent,
           s->messages_dropped, s->messages_duplicated, sim->checker.lease_steps,
           s->heal_settle_ms);
    if (sim->snapshot_every > 0) {
        printf("seed %" PRIu64 ": snapshots every %u slots: %" PRIu64 " taken, %" PRIu64
               " installed from a peer, %" PRIu64 " restored at a restart\n",
               seed, sim->snapshot_every, s->snapshots_taken, s->snapshots_installed,
               s->snapshots_recovered);
    }
    if (s->garbage_sent > 0) {
        printf("seed %" PRIu64 ": garbage: %" PRIu64 " malformed messages, %" PRIu64
               " refused by live nodes\n",
               seed, s->garbage_sent, s->garbage_refused);
    }
    if (sim->opt.membership) {
        char path[8 * MEMBERSHIP_PATH_MAX + 1];
        size_t used = 0;
        for (uint32_t i = 0; i < sim->members.path_count && used + 8 < sizeof(path); i++) {
            uint32_t voters = sim->members.path[i] & 0xf;
            uint32_t learners = sim->members.path[i] >> 4;
            int n = learners == 0
                        ? snprintf(path + used, sizeof(path) - used, "%s%u", i ? " " : "", voters)
                        : snprintf(path + used, sizeof(path) - used, "%s%u+%uL", i ? " " : "",
                                   voters, learners);
            used += n > 0 ? (size_t)n : 0;
        }
        printf("seed %" PRIu64 ": membership: %u founders, %" PRIu64 " changes chosen (%" PRIu64
               " adds, %" PRIu64 " promotions, %" PRIu64 " demotions, %" PRIu64
               " removals), %" PRIu64 " replacements, %" PRIu64 " nodes retired, %" PRIu64
               " proposals (%" PRIu64 " refused), planned voter counts reached %u of %u, "
               "voters (+learners) by epoch: %s\n",
               seed, sim->founders, s->config_chosen, s->config_adds, s->config_promotions,
               s->config_demotions, s->config_removals, s->replacements, s->retired,
               s->config_proposed, s->config_refused,
               sim->members.targets_reached < sim->members.plan_count ? sim->members.targets_reached
                                                                      : sim->members.plan_count,
               sim->members.plan_count, path);
    }
}

static void print_violation(const sim_t *sim, uint64_t seed, const char *html_path)
{
    printf("VIOLATION seed %" PRIu64 ": %s\n  %s\n", seed, sim->invariant, sim->detail);
    printf("  (%u nodes, t=%" PRIu64 " ms, step %" PRIu64 ", %s phase)\n", sim_nodes_run(sim),
           sim->now_ms, sim->steps, sim->phase == SIM_PHASE_FAULTS ? "fault" : "healed");
    printf("last events before it:\n");
    tracelog_dump(&sim->log, sim->node_count, stdout);
    /* The same events as a page (ballot trace --html; docs/debugging.md). */
    char path[4096];
    char title[256];
    char msg[4096 + 256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/ballot-sim-seed%" PRIu64 ".html",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", seed);
    snprintf(title, sizeof(title), "ballot-sim seed %" PRIu64 ": %s violated", seed,
             sim->invariant);
    if (tracelog_write_html(&sim->log, sim->node_count, html_path != NULL ? html_path : path, title,
                            msg, sizeof(msg))) {
        printf("timeline page: %s\n", html_path != NULL ? html_path : path);
    } else {
        fprintf(stderr, "ballot-sim: the timeline page was not written: %s\n", msg);
    }
    printf("replay: ballot-sim --seed %" PRIu64 " (with the same flags) --trace FILE\n", seed);
}

typedef struct totals {
    uint64_t membership_seeds;
    uint64_t schedule_done; /* seeds whose planned voter counts were all reached */
    uint32_t voters_max;
    uint64_t seeds;
    uint64_t steps;
    uint64_t sim_ms;
    sim_stats_t stats;
} totals_t;

static void totals_add(totals_t *t, const sim_t *sim)
{
    t->seeds++;
    t->steps += sim->steps;
    t->sim_ms += sim->now_ms;
    t->stats.crashes += sim->stats.crashes;
    t->stats.torn_crashes += sim->stats.torn_crashes;
    t->stats.fsync_failures += sim->stats.fsync_failures;
    t->stats.bitflips += sim->stats.bitflips;
    t->stats.corrupt_detected += sim->stats.corrupt_detected;
    t->stats.partitions += sim->stats.partitions;
    t->stats.transfers += sim->stats.transfers;
    t->stats.elections += sim->stats.elections;
    t->stats.chosen_slots += sim->stats.chosen_slots;
    t->stats.ops_completed += sim->stats.ops_completed;
    t->stats.ops_indeterminate += sim->stats.ops_indeterminate;
    t->stats.messages_sent += sim->stats.messages_sent;
    t->stats.lin_unknown += sim->stats.lin_unknown;
    t->stats.snapshots_taken += sim->stats.snapshots_taken;
    t->stats.snapshots_installed += sim->stats.snapshots_installed;
    t->stats.snapshots_recovered += sim->stats.snapshots_recovered;
    t->stats.garbage_sent += sim->stats.garbage_sent;
    t->stats.garbage_refused += sim->stats.garbage_refused;
    t->stats.config_proposed += sim->stats.config_proposed;
    t->stats.config_refused += sim->stats.config_refused;
    t->stats.config_chosen += sim->stats.config_chosen;
    t->stats.config_adds += sim->stats.config_adds;
    t->stats.config_promotions += sim->stats.config_promotions;
    t->stats.config_demotions += sim->stats.config_demotions;
    t->stats.config_removals += sim->stats.config_removals;
    t->stats.replacements += sim->stats.replacements;
    t->stats.retired += sim->stats.retired;
    if (sim->opt.membership) {
        t->membership_seeds++;
        t->voters_max =
            sim->stats.voters_max > t->voters_max ? sim->stats.voters_max : t->voters_max;
        t->schedule_done += sim->members.targets_reached >= sim->members.plan_count ? 1 : 0;
    }
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_totals(const totals_t *t, double seconds)
{
    const sim_stats_t *s = &t->stats;
    printf("%" PRIu64 " seeds, %" PRIu64 " steps, %" PRIu64 " s simulated: %" PRIu64
           " slots chosen, %" PRIu64 " elections, %" PRIu64 " ops (%" PRIu64
           " indeterminate), %" PRIu64 " crashes (%" PRIu64 " torn), %" PRIu64
           " fsync failures, %" PRIu64 " bit flips, %" PRIu64 " corrupt disks detected, %" PRIu64
           " partitions, %" PRIu64 " transfers, %" PRIu64 " messages, %" PRIu64
           " per-key histories too large to decide\n",
           t->seeds, t->steps, t->sim_ms / 1000, s->chosen_slots, s->elections, s->ops_completed,
           s->ops_indeterminate, s->crashes, s->torn_crashes, s->fsync_failures, s->bitflips,
           s->corrupt_detected, s->partitions, s->transfers, s->messages_sent, s->lin_unknown);
    if (s->snapshots_taken + s->snapshots_installed + s->snapshots_recovered > 0) {
        printf("snapshots: %" PRIu64 " taken, %" PRIu64 " installed from a peer, %" PRIu64
               " restored at a restart\n",
               s->snapshots_taken, s->snapshots_installed, s->snapshots_recovered);
    }
    if (s->garbage_sent > 0) {
        printf("garbage: %" PRIu64 " malformed messages, %" PRIu64 " refused by live nodes\n",
               s->garbage_sent, s->garbage_refused);
    }
    if (t->membership_seeds > 0) {
        printf("membership: %" PRIu64 " changes chosen (%" PRIu64 " adds, %" PRIu64
               " promotions, %" PRIu64 " demotions, %" PRIu64 " removals), %" PRIu64
               " replacements, %" PRIu64 " nodes retired, %" PRIu64 " proposals (%" PRIu64
               " refused), up to %u voters, %" PRIu64 " of %" PRIu64 " seeds through their plan\n",
               s->config_chosen, s->config_adds, s->config_promotions, s->config_demotions,
               s->config_removals, s->replacements, s->retired, s->config_proposed,
               s->config_refused, t->voters_max, t->schedule_done, t->membership_seeds);
    }
    if (seconds > 0) {
        fprintf(stderr, "ballot-sim: %.1f s wall: %.0f steps/s, %.2f seeds/s\n", seconds,
                (double)t->steps / seconds, (double)t->seeds / seconds);
    }
}

int main(int argc, char **argv)
{
    cli_t cli;
    if (parse_args(&cli, argc, argv) != 0) {
        return 2;
    }
    totals_t totals;
    memset(&totals, 0, sizeof(totals));
    double start = wall_seconds();
    int status = 0;
    bool expected_found = false;
    for (uint64_t seed = cli.seed_first; seed <= cli.seed_last; seed++) {
        static sim_t sim;
        cli.opt.seed = seed;
        int failed = sim_run(&sim, &cli.opt);
        totals_add(&totals, &sim);
        if (failed) {
            print_violation(&sim, seed, cli.html_path);
            expected_found = cli.expect != NULL && strcmp(cli.expect, sim.invariant) == 0;
            status = 1;
        } else if (cli.opt.verbose || !cli.ranged) {
            print_run(&sim, seed);
        }
        if (!tracelog_close(&sim.log)) {
            fprintf(stderr, "ballot-sim: writing the trace file %s failed\n", cli.opt.trace_path);
            status = 1;
        }
        sim_destroy(&sim);
        if (failed || seed == UINT64_MAX) {
            break;
        }
    }
    print_totals(&totals, wall_seconds() - start);
    if (cli.expect != NULL) {
        printf("%s violation %s\n", cli.expect,
               expected_found ? "found, as expected" : "NOT found");
        return expected_found ? 0 : 1;
    }
    return status;
}
