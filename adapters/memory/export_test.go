package memory

// SessionCount returns how many sessions st holds, expired or not (tests only).
func SessionCount(st *SessionStore) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byID)
}

// WindowCount returns how many rate-limit windows l holds, ended or not (tests only).
func WindowCount(l *RateLimiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.counts)
}
