package upstream

import "time"

// Backoff is the wait before retry number attempt (0 for the first retry):
// first doubled attempt times, capped at limit. It is the one backoff every
// retry of a request to the node uses (the client's own retries, the
// proxy's resumes and count lookups), and it cannot overflow however many
// attempts a long stream accumulates.
func Backoff(attempt int, first, limit time.Duration) time.Duration {
	if first <= 0 || limit <= first {
		return max(min(first, limit), 0)
	}
	wait := first
	for range attempt {
		if wait >= limit/2 {
			return limit
		}
		wait *= 2
	}
	return wait
}
