#include <stdio.h>

#include "app/app.h"

int rec_cmd_version(int argc, char **argv)
{
    struct rec_config c;
    int rc = argc > 0 ? rec_app_config(&c, REC_CMD_VERSION, "version", "", argc, argv, NULL, 0, NULL) : 0;
    if (rc)
        return rc - 1;
    if (argc > 0)
        rec_config_free(&c);
    printf("recd %s\n", RECD_VERSION);
    return 0;
}
