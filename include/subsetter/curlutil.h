/* curlutil.h - what every libcurl handle of the service shares. */
#ifndef SUBSETTER_CURLUTIL_H
#define SUBSETTER_CURLUTIL_H

#include <curl/curl.h>

/* The CA bundle or directory named by CURL_CA_BUNDLE, SSL_CERT_FILE or SSL_CERT_DIR
 * (libcurl itself reads none of them; the curl tool does). Peer and host verification
 * stay on: they are never turned off here. */
void sub_curl_ca_from_env(CURL *h);

#endif
