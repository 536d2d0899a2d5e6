#include "cli/cli.h"
int rn_cmd_bench(int argc, char **argv) { (void)argc; (void)argv; return 1; }
