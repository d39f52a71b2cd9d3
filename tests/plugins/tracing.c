/* SPDX-License-Identifier: Apache-2.0 */
/* tracing - not the real one: the other half of a route clash (clash.h). */
#include "clash.h"

CLASH_PLUGIN("tracing", "/api/v1/reports/{name}");
