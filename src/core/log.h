/* log.h: leveled logging to stderr, one line per call, thread-safe (one fprintf per line).
 *
 * Two formats: text ("2026-11-22T22:40:01.123Z info  message [req=...]") for a terminal, and
 * JSON lines ({"ts":...,"level":"info","msg":"...","request_id":"..."}) for log shippers. A
 * thread that serves a request sets its id with rec_log_set_request_id; every line that thread
 * logs until it clears it carries the id.
 */
#ifndef REC_CORE_LOG_H
#define REC_CORE_LOG_H

enum rec_log_level { REC_LOG_DEBUG, REC_LOG_INFO, REC_LOG_WARN, REC_LOG_ERROR, REC_LOG_OFF };
enum rec_log_format { REC_LOG_TEXT, REC_LOG_JSON };

/* Sets the minimum level printed (default REC_LOG_INFO). */
void rec_log_set_level(enum rec_log_level level);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 for anything else. */
int rec_log_parse_level(const char *s);
/* Sets the line format (default REC_LOG_TEXT). Call before other threads log. */
void rec_log_set_format(enum rec_log_format format);
/* Parses "text" or "json"; -1 for anything else. */
int rec_log_parse_format(const char *s);
/* The calling thread's current request id (copied, at most 63 bytes); NULL or "" clears it. */
void rec_log_set_request_id(const char *id);
/* True when level would be printed (to skip building costly messages). */
int rec_log_enabled(enum rec_log_level level);
void rec_log(enum rec_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rec_debug(...) rec_log(REC_LOG_DEBUG, __VA_ARGS__)
#define rec_info(...)  rec_log(REC_LOG_INFO, __VA_ARGS__)
#define rec_warn(...)  rec_log(REC_LOG_WARN, __VA_ARGS__)
#define rec_error(...) rec_log(REC_LOG_ERROR, __VA_ARGS__)

#endif
