/*
 * Control-plane logging: one line per event to stderr, with a level.
 * Control plane and start-up code only; never called from dataplane/.
 * Thread-safe (one fprintf per line).
 */
#ifndef LEVEE_LOG_H
#define LEVEE_LOG_H

enum lv_log_level {
	LV_LOG_ERROR = 0,
	LV_LOG_WARNING,
	LV_LOG_INFO,
	LV_LOG_DEBUG
};

/* Set the threshold from "error", "warning", "info" or "debug"; -1 if unknown. */
int lv_log_set_level(const char *name);
void lv_log(enum lv_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define lv_err(...)   lv_log(LV_LOG_ERROR, __VA_ARGS__)
#define lv_warn(...)  lv_log(LV_LOG_WARNING, __VA_ARGS__)
#define lv_info(...)  lv_log(LV_LOG_INFO, __VA_ARGS__)
#define lv_debug(...) lv_log(LV_LOG_DEBUG, __VA_ARGS__)

#endif
