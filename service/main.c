/* main.c - the subsetter binary: library set-up, the command line, tear-down.
 * Everything else lives in the core library (the other files of service/), which the tests link
 * too. */
#include <curl/curl.h>

#include "subsetter/cli.h"
#include "subsetter/db.h"

int main(int argc, char **argv)
{
    /* Both are process-wide and not thread-safe: call them before anything else. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sub_db_global_init();

    int rc = sub_cli_main(argc, argv);

    sub_db_global_cleanup();
    curl_global_cleanup();
    return rc;
}
