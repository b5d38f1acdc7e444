/* ballot-trace: `ballot trace` on its own, for machines without the full client. */
#include "trace/trace.h"

int main(int argc, char **argv)
{
    return trace_cli_main(argc, argv);
}
