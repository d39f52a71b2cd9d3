/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - vibeboxd's entry point. Everything else lives in the core
 * library so that tests can drive it too.
 */
#include "vbx_build.h"

#include "daemon.h"

int main(int argc, char **argv)
{
	return vbx__daemon_main(argc, argv);
}
