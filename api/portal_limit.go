package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit allows Burst events at once, then one more each Every.
type RateLimit struct {
	Burst int
	Every time.Duration
}

// Defaults of Delivery.RefusedOpens: ten refused opens, then one a minute.
const (
	DefaultRefusedOpensBurst = 10
	DefaultRefusedOpensEvery = time.Minute
)

// maxLimitedUsers bounds the users a limiter tracks; users whose allowance is whole again are
// forgotten first (forgetting them changes nothing).
const maxLimitedUsers = 10000

// userLimiter counts each portal user's refused opens, in this process: with several API
// replicas, each allows its own Burst (a user spread over n replicas gets n times the
// allowance, still bounded).
type userLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu    sync.Mutex
	users map[string]*rate.Limiter
}

func newUserLimiter(l RateLimit) *userLimiter {
	if l.Burst <= 0 {
		l.Burst = DefaultRefusedOpensBurst
	}
	if l.Every <= 0 {
		l.Every = DefaultRefusedOpensEvery
	}
	return &userLimiter{limit: rate.Every(l.Every), burst: l.Burst, now: time.Now, users: map[string]*rate.Limiter{}}
}

// limited reports whether the user has no refusal left, and how long until they have one.
func (l *userLimiter) limited(user string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.users[user]
	if !ok {
		return 0, false
	}
	tokens := lim.TokensAt(l.now())
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second)), true
}

// refuse spends one of the user's refusals.
func (l *userLimiter) refuse(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim, ok := l.users[user]
	if !ok {
		if len(l.users) >= maxLimitedUsers {
			l.forget(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.users[user] = lim
	}
	lim.AllowN(now, 1)
}

// forget drops the users whose allowance is whole again, or, if none is, any one user.
func (l *userLimiter) forget(now time.Time) {
	for u, lim := range l.users {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.users, u)
		}
	}
	for u := range l.users {
		if len(l.users) < maxLimitedUsers {
			return
		}
		delete(l.users, u)
	}
}
