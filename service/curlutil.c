#define SUB_LOG_DOMAIN "curl"
#include "subsetter/curlutil.h"

#include <stdlib.h>

void sub_curl_ca_from_env(CURL *h)
{
    const char *file = getenv("CURL_CA_BUNDLE");
    if (!file || !*file)
        file = getenv("SSL_CERT_FILE");
    if (file && *file)
        curl_easy_setopt(h, CURLOPT_CAINFO, file);
    const char *dir = getenv("SSL_CERT_DIR");
    if (dir && *dir)
        curl_easy_setopt(h, CURLOPT_CAPATH, dir);
}
