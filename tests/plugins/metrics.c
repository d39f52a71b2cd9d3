/* SPDX-License-Identifier: Apache-2.0 */
/* metrics - not the real one: half of a route clash (clash.h). */
#include "clash.h"

CLASH_PLUGIN("metrics", "/api/v1/reports/{id}");
