/*
 * main.c - paybill-operator entry point.
 *
 * Parses flags, configures logging and hands over to the manager. Kept small:
 * everything testable lives in the libraries under src/.
 */
#include <stdio.h>
#include <string.h>

#include "util/log.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("paybill-operator %s\n", PAYBILL_VERSION);
            return 0;
        }
    }
    pb_log_error("the operator manager is not implemented yet", NULL);
    return 1;
}
