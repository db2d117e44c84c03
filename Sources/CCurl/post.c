#include "avalon_curl.h"
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t discard(char *ptr, size_t size, size_t n, void *user) {
    (void)ptr; (void)user;
    return size * n;
}

int avalon_http_post(const char *url, const char *const *headers, int nheaders, const char *body,
                     long timeout_ms, long *status, char *err, int errlen) {
    CURL *curl = curl_easy_init();
    if (!curl) { snprintf(err, errlen, "curl_easy_init failed"); return -1; }
    struct curl_slist *list = NULL;
    for (int i = 0; i < nheaders; i++) list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(curl);
    int result = 0;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        result = -1;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return result;
}

const char *avalon_curl_version(void) { return curl_version_info(CURLVERSION_NOW)->version; }
