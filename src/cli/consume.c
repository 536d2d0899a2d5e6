#include "cli/cli.h"
int rn_cmd_consume(int argc, char **argv) { (void)argc; (void)argv; return 1; }
