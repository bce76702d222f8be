package upstream

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const first, limit = 100 * time.Millisecond, 5 * time.Second
	tests := []struct {
		name    string
		attempt int
		want    time.Duration
	}{
		{"first retry", 0, first},
		{"doubles", 1, 2 * first},
		{"doubles again", 5, 32 * first},
		{"capped", 6, limit},
		// A plain first<<attempt goes negative here and then wraps: the
		// review found resume_backoff << resumes did near the 37th resume.
		{"no overflow at 37", 37, limit},
		{"no overflow at 64", 64, limit},
		{"no overflow at MaxInt32", math.MaxInt32, limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backoff(tt.attempt, first, limit); got != tt.want {
				t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
	if got := Backoff(3, time.Second, time.Millisecond); got != time.Millisecond {
		t.Errorf("limit below first: got %v, want the limit", got)
	}
}
