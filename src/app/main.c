/* main.c: the recd binary: one subcommand table, dispatch, top-level help. */
#include <stdio.h>
#include <string.h>

#include "app/app.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", rec_cmd_serve, "run the HTTP API server"},
    {"import", rec_cmd_import, "load MovieLens, CSV or JSON-lines data into a data directory"},
    {"train", rec_cmd_train, "train the iALS model on stored events and save a snapshot"},
    {"recommend", rec_cmd_recommend, "print recommendations for one user"},
    {"eval", rec_cmd_eval, "offline evaluation: split, train, measure Precision/Recall/NDCG/MAP@K"},
    {"tune", rec_cmd_tune, "hyperparameter search on a validation split; writes a config recd serve reads"},
    {"gen", rec_cmd_gen, "write a synthetic catalog and event stream (JSON lines)"},
    {"version", rec_cmd_version, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "recd %s: a real-time recommendation engine\n\nusage: recd <command> [options]\n\ncommands:\n",
            RECD_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'recd <command> --help' lists a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version"))
        return rec_cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "recd: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
