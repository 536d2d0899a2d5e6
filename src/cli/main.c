/*
 * main.c - `runnel`, the command-line tool: global options and dispatch to
 * one file per subcommand family (topic.c, config.c, produce.c, consume.c,
 * group.c, cluster.c, bench.c). See docs/cli.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage_text[] =
    "usage: runnel [global options] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  topic    create, list, describe, delete, add-partitions, alter-config\n"
    "  config   get and set broker configs\n"
    "  produce  write records from stdin to a topic\n"
    "  consume  read records from topics\n"
    "  group    list, describe, delete consumer groups; reset their offsets\n"
    "  cluster  brokers, controller, cluster id, supported API versions\n"
    "  bench    produce, consume and end-to-end benchmarks\n"
    "\n"
    "Global options (accepted before or after the command):\n"
    "  -b, --brokers LIST   bootstrap brokers (default: $RUNNEL_BROKERS, else localhost:9092);\n"
    "                       `bench` also takes `mock` (librdkafka's in-process mock cluster)\n"
    "  -X KEY=VALUE         any librdkafka property, e.g. -X security.protocol=ssl (repeatable)\n"
    "  --output text|json   output format where output is structured (default text)\n"
    "  --timeout SECONDS    limit on each request to the brokers (default 10)\n"
    "  -v, --verbose        show librdkafka's log lines\n"
    "  -h, --help           help; `runnel COMMAND --help` for a command's options\n"
    "\n"
    "Exit status: 0 ok, 1 error (one line on stderr says what failed and why), 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  runnel topic create orders -p 3\n"
    "  printf 'k1:hello\\nk2:world\\n' | runnel produce orders --key-separator :\n"
    "  runnel consume orders --offset beginning --exit-at-end --format '%p/%o %k=%v\\n'\n"
    "  runnel --brokers 10.0.0.5:9092 --output json cluster info\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"topic", rn_cmd_topic},     {"config", rn_cmd_config},   {"produce", rn_cmd_produce},
    {"consume", rn_cmd_consume}, {"group", rn_cmd_group},     {"cluster", rn_cmd_cluster},
    {"bench", rn_cmd_bench},
};

int main(int argc, char **argv)
{
    const char *env = getenv("RUNNEL_BROKERS");
    rn_cli_g.brokers = env && *env ? env : "localhost:9092";

    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return RN_EXIT_OK;
        }
        if (argv[i][0] != '-')
            break;
        if (!rn_cli_global_opt(argc, argv, &i, ""))
            rn_cli_usage("", "unknown option '%s'", argv[i]);
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return RN_EXIT_USAGE;
    }
    if (!strcmp(argv[i], "help")) {
        fputs(usage_text, stdout);
        return RN_EXIT_OK;
    }
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
        if (!strcmp(argv[i], commands[c].name))
            return commands[c].run(argc - i, argv + i);
    rn_cli_usage("", "unknown command '%s'", argv[i]);
}
