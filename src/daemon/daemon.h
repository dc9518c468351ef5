/*
 * daemon — the plumbing cocoon-proxy, cocoon-worker and cocoon-client share:
 * the configuration fields every daemon has (JSON loading and validation),
 * the TEE set-up (provider, identity, policy, the registry's proxy image
 * check), the stats/health HTTP server and the signal-driven main loop.
 *
 * Ownership: a daemon_config_fields only points into the daemon's own config
 * struct; the strings stay owned by that config (heap copies, replaced with
 * free()+cc_strdup()). A daemon_tee owns what it holds until
 * daemon_tee_clear().
 */
#ifndef COCOON_DAEMON_H
#define COCOON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "http/http.h"
#include "registry/registry.h"
#include "tee/tee.h"

struct event_base;

/* ---- configuration (daemon_config.c) ------------------------------------ */

/* Reads the optional string `key` into *dst (a heap copy; the old value is
 * freed). Absent: *dst is left alone. */
int daemon_json_get_strdup(const json_t *obj, const char *key, char **dst, cc_err *err);

/* As daemon_json_get_strdup(), but the value is a file name resolved
 * relative to the folder of the config file `config_path`. */
int daemon_json_get_path(const json_t *obj, const char *key, const char *config_path, char **dst,
                         cc_err *err);

/* 0 when v is one of the NULL-terminated `allowed`, else
 * `field "<key>": unknown value "<v>"`. */
int daemon_check_choice(const char *key, const char *v, const char *const *allowed, cc_err *err);

/* A list of proxies to dial, "host:port" heap strings (client and worker). */
void daemon_proxies_clear(char ***list, size_t *n);
/* Appends addr after checking it parses and its port is not 0; `where`
 * names it in the message ("proxies[2]", "--proxy"). */
int daemon_proxies_add(char ***list, size_t *n, const char *addr, const char *where, cc_err *err);
/* Replaces the list with the JSON field "proxies" if present. */
int daemon_proxies_from_json(const json_t *obj, char ***list, size_t *n, cc_err *err);

/* The fields all daemons share, as pointers into a daemon's config.
 * reconnect_min/max are NULL for the proxy (it dials nobody). */
typedef struct daemon_config_fields {
    char **owner_address;
    char **tee, **policy;
    char **fake_root; /* resolved relative to the config file */
    char **registry;  /* likewise */
    double *reconnect_min, *reconnect_max;
    char **log_level;
} daemon_config_fields;

/* Reads the shared keys ("owner_address", "tee", "policy", "fake_root",
 * "registry", "reconnect_min", "reconnect_max", "log_level") from obj, each
 * only if present, in that order. */
int daemon_config_load_common(const json_t *obj, const char *path, const daemon_config_fields *f,
                              cc_err *err);

/* Checks the shared fields: tee none|fake|tdx, policy any|fake|tdx,
 * log_level debug|info|warn|error, fake_root given with tee or policy
 * "fake", reconnect_min <= reconnect_max (when present). */
int daemon_config_check_common(const daemon_config_fields *f, cc_err *err);

#endif
