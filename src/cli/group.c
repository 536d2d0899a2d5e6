#include "cli/cli.h"
int rn_cmd_group(int argc, char **argv) { (void)argc; (void)argv; return 1; }
