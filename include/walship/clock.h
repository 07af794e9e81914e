/*
 * clock.h - time for deadlines and pauses.
 *
 * Deadlines use the monotonic clock, so a wall-clock step (NTP, an
 * operator) never shortens or stretches a wait.
 */
#ifndef WALSHIP_CLOCK_H
#define WALSHIP_CLOCK_H

/* Seconds on the monotonic clock (an arbitrary origin). */
double ws_clock_now(void);

/* Seconds since the Unix epoch on the wall clock: for times that are
 * recorded or shown, never for deadlines. */
double ws_clock_wall(void);

/* Sleeps for seconds (<= 0: not at all), resuming after signals. */
void ws_clock_sleep(double seconds);

#endif
