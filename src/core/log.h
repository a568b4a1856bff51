/* log.h: leveled logging to stderr, one line per call, thread-safe (one fprintf per line). */
#ifndef REC_CORE_LOG_H
#define REC_CORE_LOG_H

enum rec_log_level { REC_LOG_DEBUG, REC_LOG_INFO, REC_LOG_WARN, REC_LOG_ERROR, REC_LOG_OFF };

/* Sets the minimum level printed (default REC_LOG_INFO). */
void rec_log_set_level(enum rec_log_level level);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 for anything else. */
int rec_log_parse_level(const char *s);
void rec_log(enum rec_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rec_debug(...) rec_log(REC_LOG_DEBUG, __VA_ARGS__)
#define rec_info(...)  rec_log(REC_LOG_INFO, __VA_ARGS__)
#define rec_warn(...)  rec_log(REC_LOG_WARN, __VA_ARGS__)
#define rec_error(...) rec_log(REC_LOG_ERROR, __VA_ARGS__)

#endif
