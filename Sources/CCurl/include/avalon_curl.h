#ifndef AVALON_CURL_H
#define AVALON_CURL_H
/* curl_easy_setopt is variadic, which Swift cannot call: one POST, wrapped. */
#ifdef __cplusplus
extern "C" {
#endif
/* POSTs body to url with the given header lines. Returns 0 and sets *status
   when an HTTP answer came; -1 with err filled otherwise. */
int avalon_http_post(const char *url, const char *const *headers, int nheaders, const char *body,
                     long timeout_ms, long *status, char *err, int errlen);
/* The linked libcurl's version, e.g. "7.88.1". */
const char *avalon_curl_version(void);
#ifdef __cplusplus
}
#endif
#endif
