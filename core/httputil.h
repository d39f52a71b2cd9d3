/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httputil.h - the request helpers of the host table (ABI 1.1): paging,
 * the list envelope and the answers for store results, as every endpoint
 * of the API gives them (see vbx_req_page(), vbx_page_body() and
 * vbx_resp_store_error() in <vibebox/http.h>). Not installed.
 */
#ifndef VBX_HTTPUTIL_H
#define VBX_HTTPUTIL_H

#include <vibebox/http.h>

#include "json.h"

/*
 * The pure half of vbx_req_page(): ?page= and ?limit= as given (either
 * NULL when absent). Errors are recorded in f under "page" and "limit".
 * Returns VBX_OK, or VBX_EINVAL with *out untouched.
 */
int vbx__page_parse(const char *page, const char *limit, vbx_page *out,
                    vbx__fields *f);

/* The host table's members; see http.h for what each does. */
int vbx__req_page(vbx_request *r, vbx_page *out);
cJSON *vbx__page_body(cJSON *data, const vbx_page *pg, int64_t total);
int vbx__resp_store_error(vbx_request *r, const vbx_hook *h, int rc,
                          const char *what, const char *field);

#endif
