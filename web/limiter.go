package web

import (
	"sync"
	"time"
)

const (
	// maxFailures and failureWindow slow password guessing: after this
	// many failed sign-ins from one address within the window, the form
	// refuses that address until the window passes.
	maxFailures   = 10
	failureWindow = 5 * time.Minute
)

// failureLimiter counts failed sign-ins per client address. PocketBase's
// own rate limits guard its API routes, not this form.
type failureLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	byIP   map[string]failures
	now    func() time.Time
}

type failures struct {
	count int
	since time.Time
}

func newFailureLimiter(max int, window time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, byIP: map[string]failures{}, now: time.Now}
}

// allow says whether the address may try again.
func (l *failureLimiter) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	entry, ok := l.byIP[ip]
	if !ok {
		return true
	}
	if l.now().Sub(entry.since) > l.window {
		delete(l.byIP, ip)
		return true
	}
	return entry.count < l.max
}

// add records one failure of the address.
func (l *failureLimiter) add(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()

	// Old entries go first, so the map cannot grow without bound.
	now := l.now()
	for key, entry := range l.byIP {
		if now.Sub(entry.since) > l.window {
			delete(l.byIP, key)
		}
	}

	entry := l.byIP[ip]
	if entry.count == 0 {
		entry.since = now
	}
	entry.count++
	l.byIP[ip] = entry
}
