/*
 * levee: a kernel-bypass DNS responder. See control/core/lv_main.c.
 */
#include "levee/control.h"

int main(int argc, char **argv)
{
	return lv_main(argc, argv, NULL);
}
