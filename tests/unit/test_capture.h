/*
 * Unit tests that look at what levee logs: stderr goes into a temporary
 * file between lv_test_capture_start() and lv_test_capture_end(), which
 * returns the text (also written back to stderr, so it stays in the test
 * log). One capture at a time; the text lives until the next capture.
 */
#ifndef LEVEE_TEST_CAPTURE_H
#define LEVEE_TEST_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

static char lv_test_captured[8192];
static int lv_test_saved_stderr = -1;
static FILE *lv_test_capture_file;

static inline void lv_test_capture_start(void)
{
	fflush(stderr);
	lv_test_capture_file = tmpfile();
	assert_non_null(lv_test_capture_file);
	lv_test_saved_stderr = dup(2);
	dup2(fileno(lv_test_capture_file), 2);
}

static inline const char *lv_test_capture_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(lv_test_saved_stderr, 2);
	close(lv_test_saved_stderr);
	rewind(lv_test_capture_file);
	n = fread(lv_test_captured, 1, sizeof(lv_test_captured) - 1,
		  lv_test_capture_file);
	lv_test_captured[n] = '\0';
	fclose(lv_test_capture_file);
	fputs(lv_test_captured, stderr);
	return lv_test_captured;
}

#endif
